"""The event index takes in added events without reading everything again, and holds exactly
what a fresh build of the same warehouse holds; whatever else changed makes it rebuild."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from userops.analytics import eventindex
from userops.analytics.eventindex import EventIndex
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

START = datetime(2026, 10, 1, tzinfo=UTC)
NAMES = ["open", "view_item", "purchase", None]  # None: an identify, no event name


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai")) as opened:
        init_warehouse(opened)
        yield opened


Row = tuple[str, str, str | None, str | None, str | None, datetime]


def _insert(wh: Warehouse, rows: list[Row], *, received_at: datetime | None = None) -> None:
    """One transaction, as an import or a group of the ingestion API writes them."""
    stamp = "now()" if received_at is None else "?::TIMESTAMPTZ"
    extra = [] if received_at is None else [received_at]
    con = wh.duckdb
    con.execute("BEGIN TRANSACTION")
    for message_id, kind, event, user_id, anonymous_id, ts in rows:
        con.execute(
            "INSERT INTO events (message_id, type, event, user_id, anonymous_id, timestamp, "
            f"received_at, batch_id) VALUES (?, ?, ?, ?, ?, ?, {stamp}, 'test')",
            [message_id, kind, event, user_id, anonymous_id, ts, *extra],
        )
    con.execute("COMMIT")


def _rows(rng: random.Random, prefix: str, n: int, users: list[str]) -> list[Row]:
    out: list[Row] = []
    for i in range(n):
        name = rng.choice(NAMES)
        user = rng.choice(users)
        anonymous = user.startswith("anon")
        ts = START + timedelta(seconds=rng.randrange(0, 30 * 86400))
        out.append(
            (
                f"{prefix}-{i}",
                "identify" if name is None else "track",
                name,
                None if anonymous else user,
                user if anonymous else None,
                ts,
            )
        )
    return out


def _content(index: EventIndex) -> list[tuple[Any, ...]]:
    """What the index holds, independent of how it numbered users and names: its rows as
    (uid, time, name), sorted; and it must be in (ukey, us) order."""
    keys = index.ukey.astype(np.int64)
    ordered = (keys[1:] > keys[:-1]) | ((keys[1:] == keys[:-1]) & (index.us[1:] >= index.us[:-1]))
    assert ordered.all(), "rows out of (ukey, us) order"
    uids = index.uids.to_pylist()
    names = ("", *index.names)
    assert list(index.names) == sorted(index.names)
    return sorted(
        (uids[k], int(t), names[c])
        for k, t, c in zip(index.ukey.tolist(), index.us.tolist(), index.code.tolist(), strict=True)
    )


def _no_build(*_args: Any, **_kw: Any) -> Any:
    raise AssertionError("the index was read again in full")


def _same_as_a_build(wh: Warehouse, build: Callable[[Warehouse], EventIndex]) -> None:
    """The index kept for `wh` holds what a fresh build holds."""
    index = eventindex.event_index(wh)
    assert index is not None
    assert _content(index) == _content(build(wh))


def test_added_events_are_merged_and_equal_a_fresh_build(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    users = [f"u{i}" for i in range(60)] + [f"anon-{i}" for i in range(20)]
    _insert(wh, _rows(rng, "a", 2000, users))
    first = eventindex.event_index(wh)
    assert first is not None and len(first) == 2000
    rounds = [
        # existing users only, at times before, among and after their events
        _rows(rng, "b", 300, users),
        # new users and a new anonymous id, with existing ones
        _rows(rng, "c", 200, [*users[:10], "u-new-1", "u-new-2", "anon-new"]),
        # a new event name that sorts before every other (every code moves), and one after
        [
            ("d-0", "track", "aaa_first", "u3", None, START),
            ("d-1", "track", "zzz", "u-new-3", None, START),
        ],
        # events at the very instant of existing ones
        [("e-0", "track", "open", "u5", None, START), ("e-1", "track", "open", "u5", None, START)],
    ]
    real_build = eventindex.build
    monkeypatch.setattr(eventindex, "build", _no_build)
    before = first
    for rows in rounds:
        _insert(wh, rows)
        grown = eventindex.event_index(wh)
        assert grown is not None and grown is not before
        assert len(grown) == len(before) + len(rows)
        assert _content(grown) == _content(real_build(wh))
        assert eventindex.event_index(wh) is grown  # unchanged since: kept
        before = grown


def test_new_links_move_their_anonymous_rows_without_a_rebuild(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    users = [f"u{i}" for i in range(30)] + [f"anon-{i}" for i in range(6)]
    _insert(wh, _rows(rng, "a", 800, users))
    assert eventindex.event_index(wh) is not None
    real_build = eventindex.build
    monkeypatch.setattr(eventindex, "build", _no_build)

    def check() -> None:
        _same_as_a_build(wh, real_build)
        index = eventindex.event_index(wh)
        assert index is not None
        linked = {a for (a,) in wh.sql("SELECT anonymous_id FROM identities")}
        assert linked and not linked & set(index.uids.to_pylist())  # no longer users of their own

    def link(anonymous: str, user: str, at: datetime) -> None:
        wh.sql("INSERT INTO identities VALUES (?, ?, ?, 'identify')", [anonymous, user, at])

    # A link alone (written without an event): anon-0's rows move to an existing user.
    link("anon-0", "u1", START)
    check()
    # A sign-up: the link and new events in one transaction, to a user the index never saw.
    wh.duckdb.execute("BEGIN TRANSACTION")
    link("anon-1", "u-signed-up", START + timedelta(days=3))
    wh.duckdb.execute("COMMIT")
    _insert(wh, _rows(rng, "b", 40, ["anon-1", "u-signed-up", "u2", "anon-5"]))
    check()
    # Two at once, one of them to another anonymous id's new owner, with new events.
    link("anon-2", "u3", START)
    link("anon-3", "u-signed-up", START)
    _insert(wh, _rows(rng, "c", 20, users))
    check()


def test_anything_else_makes_it_read_everything_again(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(6)
    users = [f"u{i}" for i in range(30)] + ["anon-1", "anon-2", "u7-anon"]
    _insert(wh, _rows(rng, "a", 500, users))
    wh.sql("INSERT INTO identities VALUES ('anon-1', 'u1', ?, 'identify')", [START])
    assert eventindex.event_index(wh) is not None
    real_build = eventindex.build
    built: list[int] = []

    def counting(source: Warehouse) -> EventIndex:
        built.append(1)
        return real_build(source)

    monkeypatch.setattr(eventindex, "build", counting)

    def check() -> None:
        _same_as_a_build(wh, real_build)

    # A link moved to another user: rows would have to leave a user that keeps others.
    wh.sql(
        "UPDATE identities SET user_id = 'u2', linked_at = linked_at - INTERVAL 1 HOUR "
        "WHERE anonymous_id = 'anon-1'"
    )
    _insert(wh, _rows(rng, "b", 10, users))
    check()
    assert len(built) == 1
    # An id used as a user_id by some events and linked as an anonymous id by others.
    _insert(wh, [("own-0", "track", "open", None, "u7-anon", START)])
    check()
    assert len(built) == 1  # new events only: merged
    wh.sql("INSERT INTO identities VALUES ('u7-anon', 'u9', ?, 'identify')", [START])
    check()
    assert len(built) == 2
    # Rows stamped at or before the index's latest write (a transaction that began earlier and
    # committed later) are not found by the newer-than filter: the counts disagree.
    [(latest,)] = wh.sql("SELECT max(received_at) FROM events")
    _insert(wh, _rows(rng, "c", 5, users), received_at=latest - timedelta(seconds=1))
    _insert(wh, _rows(rng, "d", 5, users))
    check()
    assert len(built) == 3
    # Many new users at once: a rebuild is cheaper than the merge.
    monkeypatch.setattr(eventindex, "MAX_APPENDED_USERS", 3)
    _insert(wh, _rows(rng, "e", 50, users))
    check()
    assert len(built) == 4
    # And merging works again after each rebuild.
    monkeypatch.setattr(eventindex, "MAX_APPENDED_USERS", 50_000)
    _insert(wh, _rows(rng, "f", 20, users))
    check()
    assert len(built) == 4


def test_rows_replaced_by_as_many_new_ones_are_not_an_append(wh: Warehouse) -> None:
    """userops never deletes events, but a script may: as many rows gone as came is no append
    (the newest stamp moved while the count did not)."""
    rng = random.Random(8)
    users = [f"u{i}" for i in range(10)]
    _insert(wh, _rows(rng, "a", 50, users))
    assert eventindex.event_index(wh) is not None
    wh.sql("DELETE FROM events")
    _insert(wh, _rows(rng, "b", 50, users))
    index = eventindex.event_index(wh)
    assert index is not None
    assert _content(index) == _content(eventindex.build(wh))
