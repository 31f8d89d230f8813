"""Tag values in the warehouse: the current value per user (`tag_values`) and the tag's history,
the value on each refresh day, kept as changes (`tag_changes`, `tag_snapshot_days`).

**History as changes** (docs/decisions/0007). A tag's latest snapshot is its current values. For
every earlier snapshot day d, `tag_changes` keeps only the users whose value on d differs from
their value on the tag's next snapshot day (value null: they had none on d). So the value on a
snapshot day d is the user's change row with the smallest day >= d, else their current value
(`snapshot`): a refresh that changes few values writes few history rows, and the first refresh
of a tag writes its values only.

**Writing** replaces one tag at a time, all or nothing: the new values are staged in a temporary
table first (outside any transaction; a `direct` write reads their query inside it), then
one DuckDB transaction records the previous snapshot day's changes, replaces the tag's values
and records the day. A process killed at any
moment leaves the tag at its old values and history or at its new ones, never a mix; so does
Ctrl-C. A day before the tag's latest snapshot (a refresh `--date` in the past) is slotted into
the history and leaves the current values alone; a second refresh of a day replaces that day.
Replacing the values rewrites only the users whose value changed (the rows of the others stay,
with the `refreshed_at` of the refresh that set them: the user has held the value since), so a
daily refresh that changes a tenth of the values writes a tenth of the rows.
Rows are written in user order, so DuckDB's zone maps let a lookup of one user skip most of the
table (the tables carry no index: see docs/profiles.md, "Storage").

Every kind of tag (computed, rule, imported) writes through `replace_values`. A refresh's
models over its per-user facts skip the staging on a daily refresh (`direct`): their rows are
read once, straight into the comparison with the current values, inside the transaction.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from userops.analytics.base import Source
from userops.errors import InputError
from userops.warehouse import schema
from userops.warehouse.connection import Warehouse
from userops.warehouse.transactions import transaction as warehouse_transaction

STAGE: Final = "_uo_tag_stage"  # the temporary tables the SQL below names
_LATE_STAGE: Final = "_uo_tag_late_stage"
_ARROW: Final = "_uo_tag_arrow"
_BEFORE: Final = "_uo_tag_before"  # the state on the previous snapshot day
_AFTER: Final = "_uo_tag_after"  # the state on the next snapshot day (a day slotted in)
_CHANGES: Final = "_uo_tag_changed"  # the users a new latest snapshot changes
LEGACY: Final = "tag_snapshots"  # schema 2: one full copy of every tag per snapshot day
_READY: weakref.WeakSet[Warehouse] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class Written:
    tag: str
    users: int
    snapshot_date: date
    refreshed_at: datetime  # the values it set were stamped so (`_stamp`)


@contextmanager
def transaction(wh: Warehouse) -> Iterator[None]:
    """One crash-safe DuckDB transaction for tag values (millions of rows per tag)."""
    with warehouse_transaction(wh.duckdb, bulk="log"):
        yield


# -- the history tables -------------------------------------------------------------------


def ensure_tables(wh: Warehouse) -> None:
    """Create the history tables when missing and turn schema 2's full daily snapshots
    (`tag_snapshots`) into changes, once per warehouse, in one transaction."""
    if wh in _READY:
        return
    con = wh.duckdb
    for table in (
        schema.TAG_VALUES,
        schema.TAG_CHANGES,
        schema.TAG_SNAPSHOT_DAYS,
        schema.TAG_VALUES_STATE,
    ):
        con.execute(schema.duckdb_ddl(table))
    con.execute(  # a warehouse written before the state row: it starts from the values
        "INSERT INTO tag_values_state SELECT 0, max(refreshed_at) FROM tag_values "
        "WHERE NOT EXISTS (SELECT 1 FROM tag_values_state)"
    )
    legacy = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?",
        [LEGACY],
    ).fetchone()
    if legacy and legacy[0]:
        with transaction(wh):
            _convert_legacy(con)
    _READY.add(wh)


def _convert_legacy(con: duckdb.DuckDBPyConnection) -> None:
    days = con.execute(
        "SELECT tag, snapshot_date, count(*) FROM tag_snapshots GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    if days:
        con.executemany(
            "INSERT OR REPLACE INTO tag_snapshot_days VALUES (?, ?, ?)",
            [[tag, day, users] for tag, day, users in days],
        )
    for (tag, day, _), (tag_next, day_next, _) in itertools.pairwise(days):
        if tag != tag_next:
            continue
        con.execute(
            _DIFF.format(
                before="(SELECT user_id, value, number FROM tag_snapshots "
                "WHERE tag = $tag AND snapshot_date = $day)",
                after="(SELECT user_id, value, number FROM tag_snapshots "
                "WHERE tag = $tag AND snapshot_date = $next)",
            ),
            {"tag": tag, "day": day, "next": day_next},
        )
    con.execute("DROP TABLE tag_snapshots")


# The rows of a snapshot day d (`before`) that differ from the next one (`after`): d's value,
# null when the user had none on d. Both sides are (user_id, value, number) relations.
_DIFF: Final = (
    "INSERT INTO tag_changes (snapshot_date, tag, user_id, value, number) "
    "SELECT $day, $tag, coalesce(b.user_id, a.user_id) AS uid, b.value, b.number "
    "FROM {before} AS b FULL JOIN {after} AS a ON b.user_id = a.user_id "
    "WHERE b.value IS DISTINCT FROM a.value OR b.number IS DISTINCT FROM a.number "
    "ORDER BY uid"
)

_VALUES: Final = (
    "INSERT INTO tag_values (tag, user_id, value, number, refreshed_at) "
    "SELECT $tag, user_id, value, number, $at FROM {rows} ORDER BY user_id"
)

# The users whose current value differs from the staged one: the old and the new value (null:
# none), in user order. Their rows are the only ones a refresh rewrites (`refreshed_at` of a
# value is the refresh that set it: the user has held it since).
_CHANGED: Final = (
    "CREATE TEMP TABLE {name} AS "
    "SELECT coalesce(n.user_id, o.user_id) AS user_id, o.value AS old_value, "
    "o.number AS old_number, n.value, n.number, o.row AS old_row "
    "FROM {rows} AS n FULL JOIN (SELECT user_id, value, number, rowid AS row FROM tag_values "
    "WHERE tag = $tag) AS o ON n.user_id = o.user_id "
    "WHERE n.value IS DISTINCT FROM o.value OR n.number IS DISTINCT FROM o.number "
    "ORDER BY 1"
)
_OLD_VALUES: Final = (
    "INSERT INTO tag_changes (snapshot_date, tag, user_id, value, number) "
    "SELECT $day, $tag, user_id, old_value, old_number FROM {name}"
)
_REPLACE_CHANGED: Final = (  # by row id: the rows just read, in this transaction
    "DELETE FROM tag_values WHERE tag = $tag "
    "AND rowid IN (SELECT old_row FROM {name} WHERE old_row IS NOT NULL)"
)
_NEW_VALUES: Final = (
    "INSERT INTO tag_values (tag, user_id, value, number, refreshed_at) "
    "SELECT $tag, user_id, value, number, $at FROM {name} WHERE value IS NOT NULL"
)

# A tag's state on snapshot day $day: each user's first change on or after it, else the
# current value (no change row on or after $day), users without a value left out.
_STATE: Final = (
    "CREATE TEMP TABLE {name} AS "
    "WITH later AS (SELECT user_id, value, number, snapshot_date FROM tag_changes "
    "WHERE tag = $tag AND snapshot_date >= $day), "
    "first AS (SELECT DISTINCT ON (user_id) user_id, value, number FROM later "
    "ORDER BY user_id, snapshot_date) "
    "SELECT user_id, value, number FROM first WHERE value IS NOT NULL "
    "UNION ALL SELECT v.user_id, v.value, v.number FROM tag_values AS v "
    "WHERE v.tag = $tag AND NOT EXISTS (SELECT 1 FROM later AS l WHERE l.user_id = v.user_id)"
)


def _drop(wh: Warehouse, *names: str) -> None:
    for name in names:
        wh.duckdb.execute(f"DROP TABLE IF EXISTS temp.main.{name}")


def _write(
    wh: Warehouse,
    tag: str,
    rows: str,
    users: int | None,
    *,
    snapshot_date: date,
    refreshed_at: datetime,
) -> Written:
    """Make `rows` (a relation of user_id, value, number, at most one row per user, rows without
    a user or a value left out: a staged table named by this module, or an unstaged query, read
    once, when `users` is None) the tag's snapshot of `snapshot_date`, in one transaction."""
    ensure_tables(wh)
    try:
        with transaction(wh):
            stamp = _stamp(wh.duckdb, refreshed_at)
            users = _write_days(
                wh, tag, rows, users, snapshot_date=snapshot_date, refreshed_at=stamp
            )
            _count_write(wh.duckdb, stamp)
    finally:
        _drop(wh, _BEFORE, _AFTER, _CHANGES, _LATE_STAGE)
    return Written(tag, users, snapshot_date, stamp)


def _stamp(con: duckdb.DuckDBPyConnection, at: datetime) -> datetime:
    """The `refreshed_at` of the values a write sets: `at`, or just after the latest value
    already stored when that is later (a clock set back, two writes in one microsecond), so the
    stamps of the values follow the order of their writes."""
    row = con.execute("SELECT latest FROM tag_values_state").fetchone()
    latest: datetime | None = row[0] if row else None
    if latest is not None and latest >= at:
        return latest + timedelta(microseconds=1)
    return at


def _write_days(
    wh: Warehouse,
    tag: str,
    rows: str,
    users: int | None,
    *,
    snapshot_date: date,
    refreshed_at: datetime,
) -> int:
    con = wh.duckdb
    days = [
        d
        for (d,) in con.execute(
            "SELECT snapshot_date FROM tag_snapshot_days WHERE tag = ? ORDER BY 1", [tag]
        ).fetchall()
    ]
    before = max((d for d in days if d < snapshot_date), default=None)
    after = min((d for d in days if d > snapshot_date), default=None)
    latest = days[-1] if days else None
    params: dict[str, Any] = {"tag": tag}
    if users is None and not (latest is None or snapshot_date > latest):
        # read more than once below (a day slotted in, or written again): staged here
        con.execute(f"CREATE TEMP TABLE {_LATE_STAGE} AS SELECT * FROM {rows}")  # noqa: S608
        rows, users = _LATE_STAGE, _count(con, _LATE_STAGE)
    if before is not None and before != latest:  # an older state: rebuilt from changes
        con.execute(_STATE.format(name=_BEFORE), {**params, "day": before})
    if after is not None:
        con.execute(_STATE.format(name=_AFTER), {**params, "day": after})
    con.execute(
        "DELETE FROM tag_changes WHERE tag = $tag AND snapshot_date IN ($before, $day)",
        {**params, "before": before, "day": snapshot_date},
    )
    if before is not None and before != latest:  # the older day's changes against this one
        con.execute(_DIFF.format(before=_BEFORE, after=rows), {**params, "day": before})
    if after is not None:  # a day slotted in before the latest: the values stay
        con.execute(_DIFF.format(before=rows, after=_AFTER), {**params, "day": snapshot_date})
    elif latest is None:  # the tag's first snapshot: its values
        con.execute("DELETE FROM tag_values WHERE tag = ?", [tag])
        con.execute(_VALUES.format(rows=rows), {**params, "at": refreshed_at})
    else:  # the new latest snapshot (or the latest again): only the values that differ
        con.execute(_CHANGED.format(name=_CHANGES, rows=rows), params)
        if before == latest:  # their old values are the previous day's changes
            con.execute(_OLD_VALUES.format(name=_CHANGES), {**params, "day": before})
        con.execute(_REPLACE_CHANGED.format(name=_CHANGES), params)
        con.execute(_NEW_VALUES.format(name=_CHANGES), {**params, "at": refreshed_at})
    if users is None:  # the rows were read once, into the values: count them there
        row = con.execute("SELECT count(*) FROM tag_values WHERE tag = ?", [tag]).fetchone()
        users = int(row[0]) if row else 0
    con.execute(
        "INSERT OR REPLACE INTO tag_snapshot_days VALUES (?, ?, ?)",
        [tag, snapshot_date, users],
    )
    return int(users)


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()  # noqa: S608 -- ours
    return int(row[0]) if row else 0


def _drop_stage(wh: Warehouse) -> None:
    _drop(wh, STAGE)


def _typed(rows: ir.Table) -> ir.Table:
    """The rows' user_id, value and number, typed as stored."""
    return rows.select(
        user_id=rows.user_id.cast("string"),
        value=rows.value.cast("string"),
        number=rows.number.cast("float64"),
    )


def stage(wh: Warehouse, rows: ir.Table | pa.Table, *, unique: bool = False) -> int:
    """Materialise a tag's rows (user_id, value, number) in a temporary table; rows without a
    user or a value are left out, and two values for one user are refused (unless the caller
    vouches for one row per user at most: `unique`)."""
    _drop_stage(wh)
    con = wh.duckdb
    if isinstance(rows, pa.Table):
        con.register(_ARROW, rows)
        try:
            con.execute(
                "CREATE TEMP TABLE _uo_tag_stage AS SELECT CAST(user_id AS VARCHAR) AS user_id, "
                "CAST(value AS VARCHAR) AS value, CAST(number AS DOUBLE) AS number "
                "FROM _uo_tag_arrow WHERE user_id IS NOT NULL AND value IS NOT NULL"
            )
        finally:
            con.unregister(_ARROW)
    else:  # computed once, then rows without a value deleted: a filter on `value` straight over
        # them would compute it twice (DuckDB inlines a computed column into the filter), and
        # a value read from JSON costs
        wh.ibis.create_table(STAGE, _typed(rows), temp=True)
        con.execute(f"DELETE FROM {STAGE} WHERE user_id IS NULL OR value IS NULL")  # noqa: S608
    users = "count(*)" if unique else "count(DISTINCT user_id)"
    total, distinct = con.execute(
        f"SELECT count(*), {users} FROM _uo_tag_stage"  # noqa: S608 -- ours
    ).fetchone() or (0, 0)
    if total != distinct:
        twice = con.execute(
            "SELECT user_id FROM _uo_tag_stage GROUP BY user_id HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        _drop_stage(wh)
        raise InputError(f"the tag gives user {twice[0] if twice else '?'!r} two values")
    return int(total)


def replace_values(
    wh: Warehouse,
    tag: str,
    rows: ir.Table | pa.Table,
    *,
    snapshot_date: date,
    refreshed_at: datetime,
    unique: bool = False,
    direct: bool = False,
) -> Written:
    """Make `rows` the tag's snapshot of `snapshot_date` (and its values, unless a later
    snapshot exists), in one transaction.

    `unique`: the caller vouches that `rows` give each user one row at most (a refresh's models:
    one row per user of the facts or of `users`), so they are not counted for it.
    `direct`: besides, the expression `rows` is cheap to compute (a model over the facts
    alone): the query goes unstaged into the write's transaction, which decides from the tag's
    days. When `snapshot_date` is the tag's first or a new latest snapshot (a daily refresh),
    the rows are read once, straight into the comparison with the current values: staging a
    copy of 2M users first costs about as much as comparing them. Any other day reads them
    more than once, so they are staged there."""
    ensure_tables(wh)
    if direct and isinstance(rows, ir.Table):
        typed = _typed(rows)
        kept = typed.filter(typed.user_id.notnull(), typed.value.notnull())
        query = f"({ibis.to_sql(kept, dialect='duckdb')})"
        return _write(wh, tag, query, None, snapshot_date=snapshot_date, refreshed_at=refreshed_at)
    users = stage(wh, rows, unique=unique or direct)
    try:
        return _write(wh, tag, STAGE, users, snapshot_date=snapshot_date, refreshed_at=refreshed_at)
    finally:
        _drop_stage(wh)


def _count_write(con: duckdb.DuckDBPyConnection, stamp: datetime | None) -> None:
    """One more write of tag values, in its transaction (`tag_values_state`): how readers that
    keep the values (the live count's population, through `warehouse.stamps`) see every write,
    even one that keeps the count of values, without scanning them."""
    con.execute(
        "UPDATE tag_values_state SET writes = writes + 1, latest = coalesce(?, latest)", [stamp]
    )


def drop_tag(wh: Warehouse, tag: str) -> None:
    """Forget a removed tag's values and history."""
    ensure_tables(wh)
    with transaction(wh):
        for table in ("tag_values", "tag_changes", "tag_snapshot_days"):
            wh.duckdb.execute(f"DELETE FROM {table} WHERE tag = ?", [tag])  # noqa: S608
        _count_write(wh.duckdb, None)


# -- reading (any engine) --------------------------------------------------------------------


def user_values(wh: Source, user_id: str) -> list[dict[str, Any]]:
    """Every current tag value of one user: tag, value, number, refreshed_at, by tag."""
    t = wh.table("tag_values")
    t = t.filter(t.user_id == user_id).order_by("tag")
    rows: list[dict[str, Any]] = (
        t.select("tag", "value", "number", "refreshed_at").to_pyarrow().to_pylist()
    )
    return rows


def _readable(source: Source) -> None:
    """A DuckDB warehouse opened for writing gets its history tables (or its schema 2
    snapshots turned into them) before a first read; a read-only one is read as it is."""
    if isinstance(source, Warehouse) and source.engine == "duckdb":
        with suppress(duckdb.Error):
            ensure_tables(source)


def user_history(wh: Source, user_id: str, tags: list[str]) -> list[dict[str, Any]]:
    """The user's value on each snapshot day of `tags` (days without one left out), by tag,
    oldest first: snapshot_date, tag, value, number."""
    if not tags:
        return []
    _readable(wh)
    days_t = wh.table("tag_snapshot_days")
    days_t = days_t.filter(days_t.tag.isin(tags)).select("tag", "snapshot_date")
    changes = wh.table("tag_changes")
    changes = changes.filter(changes.user_id == user_id, changes.tag.isin(tags))
    changes = changes.select("tag", "snapshot_date", "value", "number")
    current = wh.table("tag_values")
    current = current.filter(current.user_id == user_id, current.tag.isin(tags))
    current = current.select("tag", "value", "number")
    later: dict[str, list[dict[str, Any]]] = {}
    for row in changes.order_by("snapshot_date").to_pyarrow().to_pylist():
        later.setdefault(row["tag"], []).append(row)
    now = {r["tag"]: r for r in current.to_pyarrow().to_pylist()}
    out: list[dict[str, Any]] = []
    for row in days_t.order_by(["tag", "snapshot_date"]).to_pyarrow().to_pylist():
        tag, day = row["tag"], row["snapshot_date"]
        found = next((c for c in later.get(tag, []) if c["snapshot_date"] >= day), now.get(tag))
        if found is not None and found["value"] is not None:
            out.append(
                {
                    "snapshot_date": day,
                    "tag": tag,
                    "value": found["value"],
                    "number": found["number"],
                }
            )
    return out


def snapshot(source: Source, tag: str, day: date) -> ir.Table:
    """user_id, value, number: the tag's values on its snapshot day `day` (a day it has a
    snapshot of: see `snapshot_dates`), rebuilt from the current values and the changes."""
    _readable(source)
    changes = source.table("tag_changes")
    later = changes.filter(changes.tag == tag, changes.snapshot_date >= day)
    first = later.group_by("user_id").aggregate(first_day=later.snapshot_date.min())
    first = first.select(first_user="user_id", first_day="first_day")
    picked = later.join(
        first, [later.user_id == first.first_user, later.snapshot_date == first.first_day]
    )
    picked = picked.filter(picked.value.notnull()).select("user_id", "value", "number")
    current = source.table("tag_values")
    current = current.filter(current.tag == tag)
    unchanged = current.anti_join(later, current.user_id == later.user_id)
    return picked.union(unchanged.select("user_id", "value", "number"), distinct=False)


def distribution(wh: Source, tag: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Users per value of a tag, most common first (ties by value)."""
    t = wh.table("tag_values")
    t = t.filter(t.tag == tag)
    counts = t.group_by("value").aggregate(users=t.count())
    counts = counts.order_by([ibis.desc("users"), "value"]).limit(limit)
    rows: list[dict[str, Any]] = counts.to_pyarrow().to_pylist()
    return rows


def tagged_counts(wh: Source) -> dict[str, int]:
    t = wh.table("tag_values")
    counts = t.group_by("tag").aggregate(users=t.count()).to_pyarrow().to_pylist()
    return {r["tag"]: int(r["users"]) for r in counts}


def snapshot_dates(wh: Source, tag: str) -> list[date]:
    _readable(wh)
    t = wh.table("tag_snapshot_days")
    days = t.filter(t.tag == tag).select("snapshot_date").order_by("snapshot_date")
    return [r["snapshot_date"] for r in days.to_pyarrow().to_pylist()]
