"""The daily rollup kept in the warehouse (`computed.daily`): appended to for new events,
rebuilt for anything else, never half-written, and the facts read from it are the facts read
from the events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from userops.profiles.computed import daily
from userops.profiles.computed.facts import Need, user_facts
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

START = datetime(2026, 9, 1, tzinfo=UTC)
TODAY = date(2026, 10, 20)
NEEDS = [
    Need("orders", 30),
    Need("revenue", 30),
    Need("revenue", None),
    Need("active_days", 7),
    Need("active_days", 70),  # two activity words
    Need("events", 14, "view_item"),
    Need("invites", None),
    Need("invitees", None),
]
NAMES = ["open", "view_item", "purchase", "invite"]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai")) as opened:
        init_warehouse(opened)
        yield opened


def _events(wh: Warehouse, rng: random.Random, prefix: str, n: int, stamp: str = "now()") -> None:
    """`n` random events of 30 users and 20 anonymous ids (half of them linked), in one
    transaction stamped `stamp`."""
    con = wh.duckdb
    con.execute("BEGIN TRANSACTION")
    for i in range(n):
        who = rng.randrange(50)
        user, anon = (f"u{who}", None) if who < 30 else (None, f"a{who}")
        name = rng.choice(NAMES)
        revenue = Decimal(rng.randrange(-500, 50_000)) / 100 if name == "purchase" else None
        props = f'{{"invitee": "u{rng.randrange(30)}"}}' if name == "invite" else "{}"
        ts = START + timedelta(seconds=rng.randrange(0, 60 * 86400))
        con.execute(
            "INSERT INTO events (message_id, type, event, user_id, anonymous_id, timestamp, "
            f"received_at, revenue, properties, batch_id) VALUES (?, 'track', ?, ?, ?, ?, {stamp}, "
            "?, ?, 'test')",
            [f"{prefix}-{i}", name, user, anon, ts, revenue, props],
        )
    con.execute("COMMIT")


def _link(wh: Warehouse, anonymous: list[int]) -> None:
    for a in anonymous:
        wh.duckdb.execute(
            "INSERT INTO identities (anonymous_id, user_id, linked_at, source) "
            "VALUES (?, ?, now(), 'test')",
            [f"a{a}", f"u{a % 30}"],
        )


def _facts(wh: Warehouse, *, kept: bool) -> list[tuple[Any, ...]]:
    if kept:
        days, sent = wh.table("user_days"), wh.table("user_invites")
    else:  # summed from the events here (by default the facts would take a current rollup)
        events = wh.table("events")
        days = daily.daily(wh, events, until=TODAY)
        sent = daily.invites(wh, events, until=TODAY)
    facts = user_facts(wh, NEEDS, today=TODAY, days=days, sent=sent)
    rows = facts.to_pyarrow().to_pylist()
    return sorted((tuple(sorted(r.items())) for r in rows), key=repr)


def _rollup(wh: Warehouse) -> list[tuple[Any, ...]]:
    """The rollup's sums per key and day (however many parts each is kept in), then the
    invitations per sender, invitee and day."""
    days = wh.duckdb.execute(
        "SELECT user_id, anonymous_id, day, sum(events), sum(orders), sum(revenue), "
        "min(first_at), max(last_at), max(last_order_at) FROM user_days GROUP BY ALL "
        "ORDER BY ALL"
    ).fetchall()
    sent = wh.duckdb.execute(
        "SELECT user_id, invitee, day, sum(invites) FROM user_invites GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert sent, "the test data has invitations"
    return days + sent


def test_facts_from_the_rollup_are_the_facts_from_the_events(wh: Warehouse) -> None:
    rng = random.Random(1)
    _events(wh, rng, "a", 800)
    _link(wh, [30, 31, 32, 33, 34, 35, 36, 37, 38, 39])
    assert daily.kept(wh).action == "rebuilt"
    assert daily.kept(wh) == daily.Kept("current", 0)
    assert _facts(wh, kept=True) == _facts(wh, kept=False)
    # the 30 users (the linked ids' events counted as theirs); never-linked visitors are no users
    assert len(_facts(wh, kept=True)) == 30


def test_new_events_are_appended_and_sum_as_a_rebuild_does(wh: Warehouse) -> None:
    rng = random.Random(2)
    _events(wh, rng, "a", 2000)
    _link(wh, [30, 31, 32])
    daily.kept(wh)
    for batch in range(3):
        _events(wh, rng, f"b{batch}", 150)
        _link(wh, [40 + batch])  # a new link rewrites no row: resolved when read
        kept = daily.kept(wh)
        assert kept.action == "appended" and kept.rows > 0
        assert _facts(wh, kept=True) == _facts(wh, kept=False)
    appended = _rollup(wh)
    parts = wh.sql("SELECT count(*) FROM user_days")[0][0]
    assert daily.rebuild(wh).rows < parts  # the appended parts fold together
    assert _rollup(wh) == appended
    state = daily.state(wh)
    assert state is not None and state.events == 2450 and state.rows == state.built_rows


def _written_in_user_order(wh: Warehouse, after: int) -> bool:
    """The rows written after the first `after` come in the order of the users they resolve
    to now, then day."""
    rows = wh.duckdb.execute(
        "SELECT coalesce(d.user_id, i.user_id, d.anonymous_id), d.day FROM user_days AS d "
        "LEFT JOIN identities AS i ON d.anonymous_id = i.anonymous_id ORDER BY d.rowid"
    ).fetchall()[after:]
    return bool(rows) and rows == sorted(rows)


def test_rows_are_written_in_the_order_of_their_users(wh: Warehouse) -> None:
    """An anonymous id's rows lie beside its user's (the facts group them faster so): the
    order of the users the rows resolve to when they are written."""
    rng = random.Random(6)
    _events(wh, rng, "a", 600)
    _link(wh, [30, 31, 32, 33])
    built = daily.kept(wh).rows
    assert _written_in_user_order(wh, 0)
    by_key = wh.duckdb.execute(
        "SELECT coalesce(user_id, anonymous_id), day FROM user_days ORDER BY rowid"
    ).fetchall()
    assert by_key != sorted(by_key)  # linked anonymous rows sit with their users, not apart
    _events(wh, rng, "b", 100)
    _link(wh, [34])
    assert daily.kept(wh).action == "appended"
    assert _written_in_user_order(wh, built)


def test_out_of_order_stamps_deletions_and_another_zone_rebuild(
    wh: Warehouse, tmp_path: Path
) -> None:
    rng = random.Random(3)
    _events(wh, rng, "a", 500)
    daily.kept(wh)
    latest = wh.sql("SELECT max(received_at) FROM events")[0][0]
    # a transaction that began before the last refresh and committed after it
    _events(wh, rng, "late", 20, stamp=f"'{latest - timedelta(seconds=1)}'::TIMESTAMPTZ")
    _events(wh, rng, "b", 20)
    assert daily.kept(wh).action == "rebuilt"
    assert _facts(wh, kept=True) == _facts(wh, kept=False)
    wh.duckdb.execute("DELETE FROM events WHERE message_id IN ('a-1', 'a-2')")
    assert daily.kept(wh).action == "rebuilt"
    assert _facts(wh, kept=True) == _facts(wh, kept=False)
    wh.close()
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Europe/Berlin")) as berlin:
        assert daily.kept(berlin).action == "rebuilt"
        assert daily.state(berlin).timezone == "Europe/Berlin"  # type: ignore[union-attr]
        assert _facts(berlin, kept=True) == _facts(berlin, kept=False)


def test_past_its_bound_the_ledger_is_rebuilt(wh: Warehouse) -> None:
    rng = random.Random(4)
    _events(wh, rng, "a", 100)
    built = daily.kept(wh).rows
    _events(wh, rng, "b", 400)  # more new rows than COMPACT_GROWTH allows
    kept = daily.kept(wh)
    assert kept.action == "rebuilt" and kept.rows > built
    assert _facts(wh, kept=True) == _facts(wh, kept=False)


@pytest.mark.parametrize("stage", ["append", "rebuild"])
def test_a_failed_write_leaves_the_rollup_and_its_state_as_they_were(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    rng = random.Random(5)
    _events(wh, rng, "a", 600)
    daily.kept(wh)
    before, state = _rollup(wh), daily.state(wh)
    _events(wh, rng, "b", 50)
    real = daily._save

    def broken(target: Warehouse, new: daily.State) -> None:
        real(target, new)  # written, then the process fails before the commit
        raise KeyboardInterrupt

    monkeypatch.setattr(daily, "_save", broken)
    with pytest.raises(KeyboardInterrupt):
        daily.kept(wh) if stage == "append" else daily.rebuild(wh)
    assert _rollup(wh) == before and daily.state(wh) == state
    monkeypatch.setattr(daily, "_save", real)
    assert daily.kept(wh).action == "appended"
    assert _facts(wh, kept=True) == _facts(wh, kept=False)


def test_a_rollup_of_another_layout_is_rebuilt(wh: Warehouse) -> None:
    rng = random.Random(6)
    _events(wh, rng, "a", 300)
    daily.kept(wh)
    wh.duckdb.execute("UPDATE user_days_state SET layout = layout - 1")  # an older userops
    wh.duckdb.execute("DELETE FROM user_invites")  # which kept no invitations
    assert daily.kept(wh).action == "rebuilt"
    assert _facts(wh, kept=True) == _facts(wh, kept=False)


def test_readers_take_the_rollup_only_while_it_covers_every_event(wh: Warehouse) -> None:
    rng = random.Random(7)
    _events(wh, rng, "a", 300)
    assert daily.current(wh) is None  # never kept
    daily.kept(wh)
    assert daily.current(wh) is not None
    by_default = sorted(
        (
            tuple(sorted(r.items()))
            for r in user_facts(wh, NEEDS, today=TODAY).to_pyarrow().to_pylist()
        ),
        key=repr,
    )
    assert by_default == _facts(wh, kept=False)
    assert "user_days" in _sql(wh)
    _events(wh, rng, "b", 10)
    assert daily.current(wh) is None  # an event it does not cover: the readers sum the events
    assert "user_days" not in _sql(wh)


def _sql(wh: Warehouse) -> str:
    return str(ibis.to_sql(user_facts(wh, NEEDS, today=TODAY), dialect="duckdb"))
