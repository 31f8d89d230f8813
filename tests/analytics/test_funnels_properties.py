"""The funnel's set-based algorithm against a brute-force search of its declarative definition.

The product takes, step after step, the earliest qualifying event (one as-of join a step). The
definition in docs/funnels.md says what may fill the steps; this test searches every choice of
events for the furthest step and checks the two agree, on small random event logs full of ties
(several events at one instant, repeated step names). Hypothesis shrinks any disagreement to a
minimal log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from userops.analytics.funnels import FunnelSpec, funnel
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 10)
NOON = datetime(2026, 11, 10, 12, tzinfo=TZ)
MINUTE = 60_000_000

Log = list[tuple[str, str, int]]  # (user, event name, minute after noon)


def brute_force(log: Log, user: str, steps: list[str], order: str, window: int) -> int:
    """The furthest step any choice of events reaches for `user` (0 without a step-1 event)."""
    events = sorted((m * MINUTE, name) for u, name, m in log if u == user)
    instants = sorted({t for t, _ in events})
    best = 0

    def search(chosen: list[int]) -> int:  # indexes into events of steps 1..k
        k = len(chosen)
        if k == len(steps):
            return k
        t1, prev = events[chosen[0]][0], events[chosen[-1]][0]
        furthest = k
        for j, (t, name) in enumerate(events):
            if j in chosen or name != steps[k] or t > t1 + window:
                continue
            same = [events[chosen[i]][0] for i in range(k) if steps[i] == name]
            if order == "any":
                if t < t1 or t in same:  # same name: distinct instants (step 1's included)
                    continue
            else:
                if t < prev or any(t <= s for s in same):  # same name: a later instant
                    continue
                if order == "strict" and any(prev < i < t for i in instants):
                    continue
            furthest = max(furthest, search([*chosen, j]))
        return furthest

    for i, (_, name) in enumerate(events):
        if name == steps[0]:
            best = max(best, search([i]))
    return best


@pytest.fixture(scope="module")
def memory_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    folder: Path = tmp_path_factory.mktemp("funnel-props")
    with open_warehouse(Settings(data_dir=folder, warehouse_url="duckdb://:memory:")) as wh:
        init_warehouse(wh)
        yield wh


def _load(wh: Warehouse, log: Log) -> None:
    wh.sql("DELETE FROM events")
    rows = [
        (f"m{i}", name, user, NOON + timedelta(minutes=minute))
        for i, (user, name, minute) in enumerate(log)
    ]
    if rows:
        wh.duckdb.executemany(
            "INSERT INTO events (message_id, type, event, user_id, timestamp, received_at, "
            "batch_id) VALUES (?, 'track', ?, ?, ?, now(), 'test')",
            rows,
        )


USERS = [f"u{i}" for i in range(8)]
logs = st.lists(
    st.tuples(st.sampled_from(USERS), st.sampled_from("ab"), st.integers(0, 6)), max_size=40
)


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    log=logs,
    steps=st.lists(st.sampled_from("abc"), min_size=2, max_size=4),
    order=st.sampled_from(["ordered", "strict", "any"]),
    window=st.integers(1, 6),
)
def test_the_earliest_choice_reaches_as_far_as_any_choice(
    memory_warehouse: Warehouse, log: Log, steps: list[str], order: str, window: int
) -> None:
    _load(memory_warehouse, log)
    spec = FunnelSpec.of(steps, start=DAY, end=DAY, window=f"{window}m", order=order)
    got = funnel(memory_warehouse, spec)
    reached = dict(zip(got.users["uid"].to_pylist(), got.users["reached"].to_pylist(), strict=True))
    for user in USERS:
        want = brute_force(log, user, steps, order, window * MINUTE)
        assert reached.get(user, 0) == want, (user, sorted(e for e in log if e[0] == user))
