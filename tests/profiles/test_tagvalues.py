"""Tag values and their history as changes: whatever order the days are written in (new days,
a day rewritten, a day slotted in before the latest), every snapshot day reads back exactly
what was last written for it, the current values are the latest day's, and history rows are
written only for users whose value changed; schema 2's full snapshots are converted."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from userops.errors import InputError
from userops.profiles import history, tagvalues
from userops.services.setup import initialise
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, open_warehouse

DAY = date(2026, 10, 1)
NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
Rows = dict[str, tuple[str, float | None]]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai"))
    yield warehouse
    warehouse.close()


def _table(rows: Rows) -> pa.Table:
    users = sorted(rows)
    return pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "value": pa.array([rows[u][0] for u in users], pa.string()),
            "number": pa.array([rows[u][1] for u in users], pa.float64()),
        }
    )


def _expression(wh: Warehouse, rows: Rows) -> ir.Table:
    """The rows as a query over a table (as a refresh's models are), for a `direct` write."""
    con = wh.duckdb
    con.register("rows_arrow", _table(rows))
    con.execute("CREATE OR REPLACE TEMP TABLE rows_for_a_write AS SELECT * FROM rows_arrow")
    con.unregister("rows_arrow")
    return wh.table("rows_for_a_write")


def _write(
    wh: Warehouse, tag: str, rows: Rows, day: date, *, direct: bool = False, at: datetime = NOW
) -> None:
    table = _expression(wh, rows) if direct else _table(rows)
    tagvalues.replace_values(wh, tag, table, snapshot_date=day, refreshed_at=at, direct=direct)


def _read(wh: Warehouse, tag: str, day: date) -> Rows:
    got = tagvalues.snapshot(wh, tag, day).to_pyarrow().to_pylist()
    return {r["user_id"]: (r["value"], r["number"]) for r in got}


def _current(wh: Warehouse, tag: str) -> Rows:
    rows = wh.sql("SELECT user_id, value, number FROM tag_values WHERE tag = ?", [tag])
    return {u: (v, n) for u, v, n in rows}


def _random_rows(rng: random.Random, before: Rows | None) -> Rows:
    """About 30 users out of 40; when `before` is given, most keep their value."""
    rows: Rows = {}
    for i in range(40):
        user = f"u{i:02d}"
        if rng.random() < 0.25:
            continue
        if before is not None and user in before and rng.random() < 0.8:
            rows[user] = before[user]
        else:
            number = rng.choice([None, 1.0, 2.5])
            rows[user] = (rng.choice(["a", "b", "c"]), number)
    return rows


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_every_day_reads_back_what_was_written_in_any_order(wh: Warehouse, direct: bool) -> None:
    """`direct`: every write goes unstaged into its transaction, which stages the rows there
    when the day is no new latest one (a rewrite, a day slotted in)."""
    rng = random.Random(5)
    written: dict[date, Rows] = {}
    previous: Rows | None = None
    # new days in order, a rewrite of the latest, days slotted in before it, rewrites of old ones
    days = [DAY, DAY + timedelta(3), DAY + timedelta(3), DAY + timedelta(9), DAY + timedelta(6),
            DAY - timedelta(2), DAY + timedelta(3), DAY + timedelta(12), DAY + timedelta(1),
            DAY - timedelta(2), DAY + timedelta(12)]  # fmt: skip
    for day in days:
        rows = _random_rows(rng, previous)
        previous = rows
        _write(wh, "t", rows, day, direct=direct)
        written[day] = rows
        for seen, expected in written.items():
            assert _read(wh, "t", seen) == expected, (day, seen)
        assert _current(wh, "t") == written[max(written)]
        assert tagvalues.snapshot_dates(wh, "t") == sorted(written)
    # history rows only for changes: never more than the users that differ from the next day
    ordered = sorted(written)
    for day, nxt in itertools.pairwise(ordered):
        a, b = written[day], written[nxt]
        changed = {u for u in a.keys() | b.keys() if a.get(u) != b.get(u)}
        rows = wh.sql(
            "SELECT user_id FROM tag_changes WHERE tag = 't' AND snapshot_date = ?", [day]
        )
        assert {u for (u,) in rows} == changed
    assert wh.sql("SELECT count(*) FROM tag_changes WHERE snapshot_date = ?", [ordered[-1]]) == [
        (0,)
    ]


def test_user_history_and_migration_read_the_changes(wh: Warehouse) -> None:
    _write(wh, "t", {"u1": ("a", None), "u2": ("b", 2.0)}, DAY)
    _write(wh, "t", {"u1": ("a", None), "u3": ("c", None)}, DAY + timedelta(1))
    _write(wh, "t", {"u1": ("b", None), "u3": ("c", None)}, DAY + timedelta(2))
    got = [(r["snapshot_date"], r["value"]) for r in tagvalues.user_history(wh, "u1", ["t"])]
    assert got == [(DAY, "a"), (DAY + timedelta(1), "a"), (DAY + timedelta(2), "b")]
    got = [(r["snapshot_date"], r["number"]) for r in tagvalues.user_history(wh, "u2", ["t"])]
    assert got == [(DAY, 2.0)]
    counts = history.migration_counts(wh, "t", DAY, DAY + timedelta(2))
    cells = {(r["before"], r["after"]): r["users"] for r in counts.to_pyarrow().to_pylist()}
    assert cells == {("a", "b"): 1, ("b", None): 1, (None, "c"): 1}


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_a_new_day_rewrites_only_the_values_that_changed(wh: Warehouse, direct: bool) -> None:
    first: Rows = {f"u{i}": ("a", float(i)) for i in range(100)}
    _write(wh, "t", first, DAY, direct=direct)
    second = dict(first)
    second["u1"] = ("b", 1.0)  # a new value
    second["u2"] = ("a", 2.5)  # a new number
    del second["u3"]  # no value any more
    second["u100"] = ("c", None)  # a new user
    later = NOW + timedelta(days=1)
    _write(wh, "t", second, DAY + timedelta(days=1), direct=direct, at=later)
    assert _current(wh, "t") == second
    stamped = dict(wh.sql("SELECT user_id, refreshed_at FROM tag_values WHERE tag = 't'"))
    rewritten = {u for u, at in stamped.items() if at == later}
    assert rewritten == {"u1", "u2", "u100"}
    assert all(stamped[u] == NOW for u in set(second) - rewritten)
    assert _read(wh, "t", DAY) == first and _read(wh, "t", DAY + timedelta(days=1)) == second
    assert wh.sql("SELECT snapshot_date, users FROM tag_snapshot_days ORDER BY 1") == [
        (DAY, 100),
        (DAY + timedelta(days=1), 100),
    ]
    # the same day again with the same values: nothing rewritten, nothing in the history
    again = later + timedelta(hours=1)
    _write(wh, "t", second, DAY + timedelta(days=1), direct=direct, at=again)
    assert dict(wh.sql("SELECT user_id, refreshed_at FROM tag_values WHERE tag = 't'")) == stamped
    assert _read(wh, "t", DAY) == first


def test_a_failed_write_changes_nothing(wh: Warehouse) -> None:
    _write(wh, "t", {"u1": ("a", None)}, DAY)
    twice = pa.table({"user_id": ["u1", "u1"], "value": ["a", "b"], "number": [None, None]})
    with pytest.raises(InputError, match="two values"):
        tagvalues.replace_values(wh, "t", twice, snapshot_date=DAY + timedelta(1),
                                 refreshed_at=NOW)  # fmt: skip
    assert tagvalues.snapshot_dates(wh, "t") == [DAY]
    assert _current(wh, "t") == {"u1": ("a", None)}


def test_a_direct_write_failing_midway_changes_nothing(wh: Warehouse) -> None:
    """Read straight into the comparison, rows that fail while they are computed (here: a
    value that is no number) leave the values and the history as they were."""
    _write(wh, "t", {"u1": ("a", None), "u2": ("b", 2.0)}, DAY, direct=True)
    rows = _expression(wh, {"u1": ("b", None), "u2": ("x", None)})
    failing = rows.mutate(number=rows.value.cast("float64"))
    with pytest.raises(duckdb.ConversionException):
        tagvalues.replace_values(wh, "t", failing, snapshot_date=DAY + timedelta(1),
                                 refreshed_at=NOW, direct=True)  # fmt: skip
    assert tagvalues.snapshot_dates(wh, "t") == [DAY]
    assert _current(wh, "t") == {"u1": ("a", None), "u2": ("b", 2.0)}
    assert wh.sql("SELECT count(*) FROM tag_changes") == [(0,)]


def _schema_2_snapshots(wh: Warehouse) -> None:
    """The table schema 2 kept every day's full snapshot in."""
    wh.sql(
        "CREATE TABLE tag_snapshots (snapshot_date DATE NOT NULL, tag VARCHAR NOT NULL, "
        "user_id VARCHAR NOT NULL, value VARCHAR NOT NULL, number DOUBLE)"
    )


def test_schema_2_full_snapshots_become_changes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai")
    full = {
        DAY: {"u1": ("a", None), "u2": ("b", 1.0)},
        DAY + timedelta(1): {"u1": ("a", None), "u2": ("c", 1.0), "u3": ("a", None)},
        DAY + timedelta(2): {"u2": ("c", 1.0), "u3": ("b", None)},
    }
    with open_warehouse(settings) as wh:
        _schema_2_snapshots(wh)
        wh.sql(
            "CREATE TABLE tag_values (tag VARCHAR NOT NULL, user_id VARCHAR NOT NULL, "
            "value VARCHAR NOT NULL, number DOUBLE, refreshed_at TIMESTAMPTZ NOT NULL)"
        )
        for day, rows in full.items():
            for user, (value, number) in rows.items():
                wh.sql("INSERT INTO tag_snapshots VALUES (?, 't', ?, ?, ?)",
                       [day, user, value, number])  # fmt: skip
        for user, (value, number) in full[DAY + timedelta(2)].items():
            wh.sql("INSERT INTO tag_values VALUES ('t', ?, ?, ?, ?)", [user, value, number, NOW])
    with open_warehouse(settings) as wh:
        assert tagvalues.snapshot_dates(wh, "t") == sorted(full)
        for day, rows in full.items():
            assert _read(wh, "t", day) == rows
        tables = {name for (name,) in wh.sql("SELECT table_name FROM duckdb_tables()")}
        assert "tag_snapshots" not in tables
        assert wh.sql("SELECT count(*) FROM tag_changes") == [(4,)]  # two changes a day


def test_init_converts_schema_2_so_a_read_only_open_sees_the_history(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai")
    with open_warehouse(settings) as wh:
        _schema_2_snapshots(wh)
        wh.sql("INSERT INTO tag_snapshots VALUES (?, 't', 'u1', 'a', NULL)", [DAY])
        wh.sql("INSERT INTO tag_snapshots VALUES (?, 't', 'u1', 'b', NULL)", [DAY + timedelta(1)])
    initialise(settings)
    with open_warehouse(settings, read_only=True) as wh:
        assert tagvalues.snapshot_dates(wh, "t") == [DAY, DAY + timedelta(1)]
        assert _read(wh, "t", DAY) == {"u1": ("a", None)}


def test_an_empty_schema_2_table_is_dropped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai")
    with open_warehouse(settings) as wh:
        _schema_2_snapshots(wh)
        assert tagvalues.snapshot_dates(wh, "t") == []
        tables = {name for (name,) in wh.sql("SELECT table_name FROM duckdb_tables()")}
        assert "tag_snapshots" not in tables and "tag_changes" in tables
