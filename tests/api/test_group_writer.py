"""In-memory imports through the pipeline's rules and loaders, and the group-commit writer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from userops.errors import InputError
from userops.ingest.payloads import to_rows
from userops.ingest.pipeline import import_table, import_tables
from userops.ingest.writer import GroupWriter, WriterUnavailable
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

RECEIVED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(Settings(data_dir=tmp_path / "data"))
    init_warehouse(wh)
    yield wh
    wh.close()


def test_import_table_reports_each_bad_row_and_each_duplicate(warehouse: Warehouse) -> None:
    table = pa.table(
        {
            "__row": [10, 20, 30, 40],
            "message_id": ["m1", "m2", "m1", "m3"],
            "event": ["open", "open", "open", None],
            "user_id": ["u1", "u1", "u1", "u1"],
            "timestamp": [
                "2026-11-01T00:00:00Z",
                "nope",
                "2026-11-01T00:00:00Z",
                "2026-11-01T00:00:00Z",
            ],
        }
    )
    first = import_table(warehouse, "events", table, batch_id="b1", source="test")
    assert first.rejected == (
        (20, 'timestamp "nope" is not an ISO-8601 time'),
        (40, "missing event: a track needs an event name"),
    )
    assert first.duplicate_rows == (30,)
    assert first.summary.as_json() == {
        "accepted": 1,
        "rejected": 2,
        "duplicates": 1,
        "quarantine": None,
    }
    again = import_table(warehouse, "events", table, batch_id="b2")
    assert (again.summary.accepted, again.duplicate_rows) == (0, (10, 30))
    # Nothing is left behind on the connection.
    names = {r[0] for r in warehouse.sql("SELECT table_name FROM duckdb_tables()")}
    names |= {
        r[0] for r in warehouse.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal")
    }
    assert not {n for n in names if n.startswith("__")}


def test_rows_of_one_record_are_stored_together_or_not_at_all(warehouse: Warehouse) -> None:
    events = pa.table(
        {
            "__row": [1, 2],
            "message_id": ["i1", "i2"],
            "type": ["identify", "identify"],
            "user_id": ["u1", "u2"],
            "timestamp": ["2026-11-01T00:00:00Z"] * 2,
        }
    )
    users = pa.table({"__row": [1, 2], "user_id": ["u1", "u2"], "birthday": ["1990-01-01", "x"]})
    done = import_tables(warehouse, {"events": events, "users": users})
    assert done["events"].rejected == ()
    assert done["users"].rejected == ((2, 'birthday "x" is not a date (YYYY-MM-DD)'),)
    assert (done["events"].summary.accepted, done["events"].summary.rejected) == (1, 1)
    assert warehouse.sql("SELECT message_id FROM events") == [("i1",)]
    assert warehouse.sql("SELECT user_id FROM users") == [("u1",)]


def test_a_failed_import_leaves_nothing(warehouse: Warehouse) -> None:
    with pytest.raises(InputError, match="no column 'timestamp'"):
        import_table(warehouse, "events", pa.table({"message_id": ["m1"], "user_id": ["u"]}))
    assert warehouse.sql("SELECT count(*) FROM events") == [(0,)]


def _track(prefix: str, n: int, *, bad: int | None = None) -> list[dict[str, object]]:
    return [
        {
            "type": "track",
            "messageId": f"{prefix}-{i}",
            "userId": "u1",
            "event": None if i == bad else "open",
            "timestamp": "2026-11-01T00:00:00Z",
        }
        for i in range(n)
    ]


class _Counting:
    """Warehouse access that counts the commits (one per group) and can hold the writer."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self.uses = 0
        self.gate = threading.Event()
        self.gate.set()

    @contextmanager
    def __call__(self) -> Iterator[Warehouse]:
        self.gate.wait(30)
        self.uses += 1
        yield self.wh


def test_concurrent_requests_share_commits_and_get_their_own_answers(
    warehouse: Warehouse,
) -> None:
    access = _Counting(warehouse)
    writer = GroupWriter(access)
    access.gate.clear()  # hold the writer so the requests queue up behind the first one
    futures = [
        writer.submit(to_rows(_track(f"r{r}", 100, bad=r), call="batch", received_at=RECEIVED))
        for r in range(8)
    ]
    access.gate.set()
    outcomes = [f.result(timeout=60) for f in futures]
    writer.close()
    assert access.uses <= 2  # the first request alone, or with the others, then the rest
    for r, outcome in enumerate(outcomes):
        assert (outcome.accepted, outcome.duplicates) == (99, 0)
        assert outcome.rejected == ((r + 1, "missing event: a track needs an event name"),)
    assert warehouse.sql("SELECT count(*) FROM events") == [(8 * 99,)]
    [(batches,)] = warehouse.sql("SELECT count(DISTINCT batch_id) FROM events")
    assert batches == access.uses


def test_identifies_written_in_one_group_add_up_as_if_written_one_by_one(
    warehouse: Warehouse,
) -> None:
    """Traits of one user sent by separate requests that the writer commits together: each
    request's traits are kept, later ones over earlier ones, as when each is written alone."""
    access = _Counting(warehouse)
    writer = GroupWriter(access)
    access.gate.clear()
    traits = [
        {"city": "杭州", "plan": "pro", "pets": {"cat": 1}},
        {"email": "a@example.com", "plan": "vip"},
        {"pets": None, "gender": "female"},
    ]
    futures = [
        writer.submit(
            to_rows(
                [{"type": "identify", "messageId": f"id{i}", "userId": "u1", "traits": t,
                  "timestamp": "2026-11-01T00:00:00Z"}],
                call="identify",
                received_at=RECEIVED,
            )
        )
        for i, t in enumerate(traits)
    ]  # fmt: skip
    access.gate.set()
    assert [f.result(timeout=60).accepted for f in futures] == [1, 1, 1]
    writer.close()
    assert access.uses <= 2
    [(city, email, gender, bag)] = warehouse.sql(
        "SELECT city, email, gender, traits FROM users WHERE user_id = 'u1'"
    )
    assert (city, email, gender) == ("杭州", "a@example.com", "female")
    assert json.loads(bag) == {"plan": "vip"}  # pets set, then removed by a null


def test_a_request_that_breaks_its_group_fails_alone(warehouse: Warehouse) -> None:
    access = _Counting(warehouse)
    writer = GroupWriter(access)
    access.gate.clear()
    good = to_rows(_track("good", 10), call="batch", received_at=RECEIVED)
    broken = to_rows(_track("broken", 10), call="batch", received_at=RECEIVED)
    broken = type(broken)(
        events=broken.events.drop_columns(["timestamp"]),
        users=broken.users,
        items=broken.items,
        message_ids=broken.message_ids,
        refused=broken.refused,
    )
    futures = [writer.submit(good), writer.submit(broken), writer.submit(good)]
    access.gate.set()
    assert futures[0].result(timeout=60).accepted == 10
    with pytest.raises(InputError):
        futures[1].result(timeout=60)
    assert futures[2].result(timeout=60).duplicates == 10
    writer.close()
    assert warehouse.sql("SELECT count(*) FROM events") == [(10,)]


def test_a_closed_or_overloaded_writer_refuses(warehouse: Warehouse) -> None:
    access = _Counting(warehouse)
    writer = GroupWriter(access, max_queued_rows=15)
    access.gate.clear()
    first = writer.submit(to_rows(_track("a", 10), call="batch", received_at=RECEIVED))
    with pytest.raises(WriterUnavailable, match="waiting to be written"):
        writer.submit(to_rows(_track("b", 10), call="batch", received_at=RECEIVED))
    access.gate.set()
    first.result(timeout=60)
    writer.close()
    with pytest.raises(WriterUnavailable, match="shutting down"):
        writer.submit(to_rows(_track("c", 1), call="batch", received_at=RECEIVED))


def test_the_writer_waits_for_requests_being_parsed(warehouse: Warehouse) -> None:
    access = _Counting(warehouse)
    writer = GroupWriter(access, gather_wait=5.0)
    with writer.arriving():
        first = writer.submit(to_rows(_track("a", 5), call="batch", received_at=RECEIVED))
        with writer.arriving():
            time.sleep(0.2)  # still parsing: the writer holds the first request back
            second = writer.submit(to_rows(_track("b", 5), call="batch", received_at=RECEIVED))
    assert first.result(timeout=60).accepted == second.result(timeout=60).accepted == 5
    alone = writer.submit(to_rows(_track("c", 5), call="batch", received_at=RECEIVED))
    started = time.monotonic()
    alone.result(timeout=60)
    assert time.monotonic() - started < 4.0  # nothing arriving: written at once
    writer.close()
    assert access.uses == 2
