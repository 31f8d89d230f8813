"""Tag values in the warehouse: the current value per user (`tag_values`) and the value on each
refresh day (`tag_snapshots`).

Writing replaces one tag at a time, all or nothing: the new values are staged in a temporary
table first (the slow part, outside any transaction), then one DuckDB transaction deletes the
tag's rows and that day's snapshot rows and inserts the staged ones. A process killed at any
moment leaves the tag at its old values or at its new ones, never a mix; so does Ctrl-C.
Rows are staged in user order and inserted in that order, so DuckDB's zone maps let a lookup
of one user skip most of the table (the tables carry no index: see docs/profiles.md, "Storage").

Every kind of tag (computed, rule, imported) writes through `replace_values`, which keeps the
invariant the history relies on: the current values equal the tag's latest snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from userops.analytics.base import Source
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

STAGE: Final = "_uo_tag_stage"  # the temporary tables the SQL below names
BATCH: Final = "_uo_tag_batch"
_ARROW: Final = "_uo_tag_arrow"


@dataclass(frozen=True, slots=True)
class Written:
    tag: str
    users: int
    snapshot_date: date


@contextmanager
def transaction(wh: Warehouse) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back when it raises
    (KeyboardInterrupt included)."""
    con = wh.duckdb
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _drop_stage(wh: Warehouse) -> None:
    wh.duckdb.execute("DROP TABLE IF EXISTS temp.main._uo_tag_stage")


def stage(wh: Warehouse, rows: ir.Table | pa.Table) -> int:
    """Materialise a tag's rows (user_id, value, number) in a temporary table; rows without a
    user or a value are left out, and two values for one user are refused."""
    _drop_stage(wh)
    con = wh.duckdb
    if isinstance(rows, pa.Table):
        con.register(_ARROW, rows)
        try:
            con.execute(
                "CREATE TEMP TABLE _uo_tag_stage AS SELECT CAST(user_id AS VARCHAR) AS user_id, "
                "CAST(value AS VARCHAR) AS value, CAST(number AS DOUBLE) AS number "
                "FROM _uo_tag_arrow WHERE user_id IS NOT NULL AND value IS NOT NULL "
                "ORDER BY user_id"
            )
        finally:
            con.unregister(_ARROW)
    else:
        clean = rows.filter(rows.user_id.notnull(), rows.value.notnull())
        staged = clean.select("user_id", "value", "number").order_by("user_id")
        wh.ibis.create_table(STAGE, staged, temp=True)
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT user_id) FROM _uo_tag_stage"
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
) -> Written:
    """Make `rows` the tag's values and its snapshot of `snapshot_date`, in one transaction."""
    users = stage(wh, rows)
    con = wh.duckdb
    try:
        with transaction(wh):
            con.execute("DELETE FROM tag_values WHERE tag = ?", [tag])
            con.execute(
                "INSERT INTO tag_values (tag, user_id, value, number, refreshed_at) "
                "SELECT ?, user_id, value, number, ? FROM _uo_tag_stage",
                [tag, refreshed_at],
            )
            _replace_snapshot(wh, tag, snapshot_date)
            con.execute(
                "INSERT INTO tag_snapshots (snapshot_date, tag, user_id, value, number) "
                "SELECT ?, ?, user_id, value, number FROM _uo_tag_stage",
                [snapshot_date, tag],
            )
    finally:
        _drop_stage(wh)
    return Written(tag, users, snapshot_date)


def _replace_snapshot(wh: Warehouse, tag: str, snapshot_date: date) -> None:
    wh.duckdb.execute(
        "DELETE FROM tag_snapshots WHERE snapshot_date = ? AND tag = ?", [snapshot_date, tag]
    )


# -- several tags computed together ----------------------------------------------------------


def stage_batch(wh: Warehouse, tables: dict[str, ir.Table]) -> dict[str, int]:
    """Materialise several tags' rows in one query (the engine shares their scans of the
    facts), in tag and user order: each is then written by `replace_from_batch`, still one
    transaction per tag. Returns the users per tag (a tag without rows is absent); two values
    for one user are refused, naming the tag."""
    drop_batch(wh)
    if not tables:
        return {}
    parts = []
    for code, rows in tables.items():
        clean = rows.filter(rows.user_id.notnull(), rows.value.notnull())
        parts.append(
            clean.select(
                tag=ibis.literal(code),
                user_id=clean.user_id.cast("string"),
                value=clean.value.cast("string"),
                number=clean.number.cast("float64"),
            )
        )
    union = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    wh.ibis.create_table(BATCH, union.order_by(["tag", "user_id"]), temp=True)
    counts = wh.sql("SELECT tag, count(*), count(DISTINCT user_id) FROM _uo_tag_batch GROUP BY tag")
    twice = sorted(tag for tag, total, distinct in counts if total != distinct)
    if twice:
        drop_batch(wh)
        raise InputError(f"tag {twice[0]!r} gives a user two values")
    return {str(tag): int(total) for tag, total, _ in counts}


def replace_from_batch(
    wh: Warehouse, tag: str, users: int, *, snapshot_date: date, refreshed_at: datetime
) -> Written:
    """`replace_values` for a tag staged by `stage_batch`."""
    con = wh.duckdb
    with transaction(wh):
        con.execute("DELETE FROM tag_values WHERE tag = ?", [tag])
        con.execute(
            "INSERT INTO tag_values (tag, user_id, value, number, refreshed_at) "
            "SELECT tag, user_id, value, number, ? FROM _uo_tag_batch WHERE tag = ?",
            [refreshed_at, tag],
        )
        _replace_snapshot(wh, tag, snapshot_date)
        con.execute(
            "INSERT INTO tag_snapshots (snapshot_date, tag, user_id, value, number) "
            "SELECT ?, tag, user_id, value, number FROM _uo_tag_batch WHERE tag = ?",
            [snapshot_date, tag],
        )
    return Written(tag, users, snapshot_date)


def drop_batch(wh: Warehouse) -> None:
    wh.duckdb.execute("DROP TABLE IF EXISTS temp.main._uo_tag_batch")


def drop_tag(wh: Warehouse, tag: str) -> None:
    """Forget a removed tag's values and history."""
    with transaction(wh):
        wh.duckdb.execute("DELETE FROM tag_values WHERE tag = ?", [tag])
        wh.duckdb.execute("DELETE FROM tag_snapshots WHERE tag = ?", [tag])


# -- reading (any engine) --------------------------------------------------------------------


def user_values(wh: Source, user_id: str) -> list[dict[str, Any]]:
    """Every current tag value of one user: tag, value, number, refreshed_at, by tag."""
    t = wh.table("tag_values")
    t = t.filter(t.user_id == user_id).order_by("tag")
    rows: list[dict[str, Any]] = (
        t.select("tag", "value", "number", "refreshed_at").to_pyarrow().to_pylist()
    )
    return rows


def user_history(wh: Source, user_id: str, tags: list[str]) -> list[dict[str, Any]]:
    """The user's snapshots of `tags`, oldest first: snapshot_date, tag, value, number."""
    if not tags:
        return []
    t = wh.table("tag_snapshots")
    t = t.filter(t.user_id == user_id, t.tag.isin(tags)).order_by(["tag", "snapshot_date"])
    rows: list[dict[str, Any]] = (
        t.select("snapshot_date", "tag", "value", "number").to_pyarrow().to_pylist()
    )
    return rows


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
    t = wh.table("tag_snapshots")
    days = t.filter(t.tag == tag).select("snapshot_date").distinct().order_by("snapshot_date")
    return [r["snapshot_date"] for r in days.to_pyarrow().to_pylist()]
