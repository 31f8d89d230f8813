"""The API writer's load: dedup through the in-memory filter of stored ids, kept exact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from userops.ingest.group_load import GroupLoad
from userops.ingest.payloads import Rows, to_rows
from userops.ingest.pipeline import import_table
from userops.ingest.seen import SeenIds
from userops.ingest.writer import GroupWriter
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

RECEIVED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(Settings(data_dir=tmp_path / "data"))
    init_warehouse(wh)
    yield wh
    wh.close()


def _batch(*ids: str, bad: str | None = None) -> Rows:
    items = [
        {
            "type": "track",
            "messageId": message_id,
            "userId": "u1",
            "event": "open",
            "timestamp": "nope" if message_id == bad else "2026-11-01T00:00:00Z",
        }
        for message_id in ids
    ]
    return to_rows(items, call="batch", received_at=RECEIVED)


class _Gate:
    """Warehouse access that can hold the writer, so requests queue into one group."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self.open = threading.Event()
        self.uses = 0

    @contextmanager
    def __call__(self) -> Iterator[Warehouse]:
        self.open.wait(30)
        self.uses += 1
        yield self.wh


def _ids(wh: Warehouse) -> list[str]:
    return [r[0] for r in wh.sql("SELECT message_id FROM events ORDER BY message_id")]


def test_a_retry_in_the_same_group_stores_nothing_twice(warehouse: Warehouse) -> None:
    gate = _Gate(warehouse)
    gate.open.set()
    writer = GroupWriter(gate, gather_wait=10.0)
    with writer.arriving():  # the writer waits for requests being parsed: one group
        first = writer.submit(_batch("a", "b", "c"))
        retry = writer.submit(_batch("a", "b", "c"))
    assert (first.result(30).accepted, first.result(30).duplicates) == (3, 0)
    assert (retry.result(30).accepted, retry.result(30).duplicates) == (0, 3)
    writer.close()
    assert gate.uses == 1  # one group
    assert _ids(warehouse) == ["a", "b", "c"]


def test_a_retry_in_a_later_group_stores_nothing_twice(warehouse: Warehouse) -> None:
    gate = _Gate(warehouse)
    gate.open.set()
    writer = GroupWriter(gate)
    assert writer.submit(_batch("a", "b")).result(30).accepted == 2
    again = writer.submit(_batch("b", "a", "new")).result(30)
    writer.close()
    assert (again.accepted, again.duplicates) == (1, 2)
    assert _ids(warehouse) == ["a", "b", "new"]


def test_ids_stored_before_the_filter_existed_or_by_another_writer(
    warehouse: Warehouse,
) -> None:
    long_ago = import_table(warehouse, "events", _batch("old-1", "old-2").events, batch_id="b0")
    assert long_ago.summary.accepted == 2
    load = GroupLoad()
    done = load.load(warehouse.duckdb, {"events": _batch("old-1", "x").events}, batch="b1")
    assert (done.inserted, sorted(done.duplicates)) == (1, [1])
    # Another writer of the same warehouse (a file import in this process) adds an id the
    # filter has not seen: the row counts differ, and the filter is built again.
    import_table(warehouse, "events", _batch("side").events, batch_id="b2")
    done = load.load(warehouse.duckdb, {"events": _batch("side", "y").events}, batch="b3")
    assert (done.inserted, sorted(done.duplicates)) == (1, [1])
    assert _ids(warehouse) == ["old-1", "old-2", "side", "x", "y"]


def test_the_filter_only_narrows_the_warehouse_decides(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = GroupLoad()
    load.load(warehouse.duckdb, {"events": _batch("a").events}, batch="b1")

    # As if every new id collided with a stored hash: each is then looked up, exactly.
    def everything(hashes: np.ndarray) -> np.ndarray:
        return np.ones(len(hashes), dtype=bool)

    monkeypatch.setattr(load.seen, "maybe_stored", everything)
    done = load.load(warehouse.duckdb, {"events": _batch("a", "b", "c").events}, batch="b2")
    assert (done.inserted, sorted(done.duplicates)) == (2, [1])
    assert _ids(warehouse) == ["a", "b", "c"]


def test_the_first_good_row_of_a_repeated_id_is_the_one_kept(warehouse: Warehouse) -> None:
    load = GroupLoad()
    rows = _batch("m", "m", "m", bad="m")  # all three rejected: bad timestamp
    good = _batch("m", "m")
    table = pa.concat_tables(
        [
            rows.events,
            good.events.set_column(
                good.events.schema.get_field_index("__row"), "__row", pa.array([4, 5], pa.int64())
            ),
        ]
    )
    done = load.load(warehouse.duckdb, {"events": table}, batch="b1")
    assert sorted(done.rejected) == [1, 2, 3]
    assert (done.inserted, sorted(done.duplicates)) == (1, [5])
    assert warehouse.sql("SELECT count(*) FROM events") == [(1,)]


def test_a_failed_group_leaves_nothing_and_the_filter_is_rebuilt(warehouse: Warehouse) -> None:
    load = GroupLoad()
    load.load(warehouse.duckdb, {"events": _batch("a").events}, batch="b1")
    broken = _batch("b").events.drop_columns(["timestamp"])
    with pytest.raises(Exception, match="import failed"):
        load.load(warehouse.duckdb, {"events": broken}, batch="b2")
    done = load.load(warehouse.duckdb, {"events": _batch("a", "b").events}, batch="b3")
    assert (done.inserted, sorted(done.duplicates)) == (1, [1])
    names = {r[0] for r in warehouse.sql("SELECT table_name FROM duckdb_tables()")}
    assert not {n for n in names if n.startswith("__")}


def test_seen_ids_across_merges() -> None:
    seen = SeenIds()
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**63, size=300_000, dtype=np.uint64)
    for chunk in np.array_split(stored, 60):  # recent additions merged into the base
        seen.add(chunk, len(chunk))
    assert seen.maybe_stored(stored).all()
    fresh = rng.integers(0, 2**63, size=10_000, dtype=np.uint64)
    fresh = fresh[~np.isin(fresh, stored)]
    assert not seen.maybe_stored(fresh).any()
