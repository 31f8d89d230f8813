"""The points ledger: writes per second, and a campaign award to 1M users, on SQLite and
PostgreSQL.

- Ledger writes: awards and redeems, one locked transaction each (`points.award` /
  `points.redeem`: replay check, row lock, entry, lot, allocations), against the bare minimum
  a ledger write costs: one INSERT of the same row per transaction, no lock, no lot.
- Campaign: `points.award_campaign` (one set-based transaction: INSERT ... SELECT over a
  temporary table of user ids, COPY on PostgreSQL) against one ORM transaction per user
  (`points.award`), which must be at least 20x slower. The per-user baseline is timed on a
  sample (SAMPLE users) and scaled to the campaign's size (its cost is linear: one
  transaction per user); the sample is also awarded both ways and the two databases compared
  row by row (entries, lots, balances), so the fast path is checked to give the same result.

PostgreSQL runs on a throwaway local server started like the tests' (Debian's binaries); without
them the PostgreSQL lines are skipped with a note. USEROPS_BENCH_CAMPAIGN_USERS (1,000,000) and
USEROPS_BENCH_LEDGER_WRITES (2,000) size the runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import Result
from userops.membership import points
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import PointsAccount, PointsEntry, PointsLot

CAMPAIGN_USERS = int(os.environ.get("USEROPS_BENCH_CAMPAIGN_USERS", "1000000"))
LEDGER_WRITES = int(os.environ.get("USEROPS_BENCH_LEDGER_WRITES", "2000"))
SAMPLE = min(5000, CAMPAIGN_USERS)
AT = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


@contextmanager
def _sqlite(workdir: Path) -> Iterator[Callable[[str], str]]:
    def make(name: str) -> str:
        url = f"sqlite:///{workdir / f'{name}.db'}"
        upgrade(url)
        return url

    yield make


@contextmanager
def _postgres(workdir: Path) -> Iterator[Callable[[str], str] | None]:
    try:
        from tests.fixtures.postgres import find_bindir, start_cluster, stop_cluster
    except ImportError:
        yield None
        return
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    cluster = start_cluster(bindir)
    try:

        def make(name: str) -> str:
            url = cluster.create_database(f"bench_{name}")
            upgrade(url)
            return url

        yield make
    finally:
        stop_cluster(cluster)


def _users(count: int) -> list[str]:
    return [f"U{i:08d}" for i in range(count)]


def _ledger_writes(url: str, count: int) -> float:
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        for i in range(count // 2):
            user = f"w{i % 50}"
            points.award(engine, user_id=user, amount=10, key=f"a{i}", at=AT)
            points.redeem(engine, user_id=user, amount=5, key=f"r{i}", at=AT)
        return time.perf_counter() - start
    finally:
        engine.dispose()


def _bare_inserts(url: str, count: int) -> float:
    engine = make_engine(url)
    table = PointsEntry.__table__
    try:
        start = time.perf_counter()
        for i in range(count):
            with session_scope(engine) as session:
                session.execute(
                    table.insert(),  # type: ignore[attr-defined]
                    {
                        "user_id": "bare",
                        "kind": "earn",
                        "amount": 10,
                        "idempotency_key": f"b{i}",
                        "op_key": f"b{i}",
                        "effective_at": AT,
                        "recorded_at": AT,
                        "actor": "bench",
                        "detail": {},
                    },
                )
        return time.perf_counter() - start
    finally:
        engine.dispose()


def _per_user(url: str, users: list[str]) -> float:
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        for user in users:
            points.award(
                engine,
                user_id=user,
                amount=30,
                key=points.campaign_key("c", user),
                at=AT,
                expiry="year_end:1",
                reference="c",
            )
        return time.perf_counter() - start
    finally:
        engine.dispose()


def _bulk(url: str, users: list[str]) -> float:
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        done = points.award_campaign(
            engine, key="c", user_ids=users, amount=30, at=AT, expiry="year_end:1", reference="c"
        )
        elapsed = time.perf_counter() - start
        assert done.awarded == len(users), done
        return elapsed
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, Any]:
    """Everything a campaign award writes, without ids and write times."""
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            entries = sorted(
                session.execute(
                    select(
                        PointsEntry.user_id,
                        PointsEntry.kind,
                        PointsEntry.amount,
                        PointsEntry.idempotency_key,
                        PointsEntry.op_key,
                        PointsEntry.effective_at,
                        PointsEntry.matures_at,
                        PointsEntry.reference,
                    )
                ).all()
            )
            lots = sorted(
                session.execute(
                    select(
                        PointsLot.user_id,
                        PointsLot.amount,
                        PointsLot.remaining,
                        PointsLot.matures_at,
                        PointsLot.expires_at,
                    )
                ).all()
            )
            balances = sorted(
                session.execute(select(PointsAccount.user_id, PointsAccount.balance)).all()
            )
        return {"entries": entries, "lots": lots, "balances": balances}
    finally:
        engine.dispose()


def _totals(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            entries = session.scalar(select(func.count()).select_from(PointsEntry)) or 0
            lots = session.scalar(select(func.sum(PointsLot.remaining))) or 0
            balance = session.scalar(select(func.sum(PointsAccount.balance))) or 0
        return int(entries), int(lots), int(balance)
    finally:
        engine.dispose()


def _backend(name: str, make: Callable[[str], str]) -> list[Result]:
    results = []
    writes = _ledger_writes(make("writes"), LEDGER_WRITES)
    bare = _bare_inserts(make("bare"), LEDGER_WRITES)
    results.append(
        Result(
            name=f"ledger writes, {name}",
            ours_s=writes,
            baseline_s=bare,
            baseline="bare INSERT, 1 txn each",
            target="report",
            units=LEDGER_WRITES,
            unit="writes",
        )
    )
    sample = _users(SAMPLE)
    per_user_url, bulk_url = make("sample_orm"), make("sample_bulk")
    per_user = _per_user(per_user_url, sample)
    _bulk(bulk_url, sample)
    assert _snapshot(per_user_url) == _snapshot(bulk_url), "bulk and per-user awards differ"
    everyone = _users(CAMPAIGN_USERS)
    full_url = make("campaign")
    bulk = _bulk(full_url, everyone)
    assert _totals(full_url) == (CAMPAIGN_USERS, 30 * CAMPAIGN_USERS, 30 * CAMPAIGN_USERS)
    results.append(
        Result(
            name=f"campaign award {CAMPAIGN_USERS / 1e6:g}M users, {name}",
            ours_s=bulk,
            baseline_s=per_user * CAMPAIGN_USERS / SAMPLE,
            baseline=f"1 ORM txn/user (timed on {SAMPLE:,}, scaled)",
            target=">=20x",
            units=CAMPAIGN_USERS,
            unit="users",
        )
    )
    return results


def run() -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="userops-bench-membership-") as tmp:
        work = Path(tmp)
        with _sqlite(work) as make:
            results += _backend("SQLite", make)
        with _postgres(work) as make_pg:
            if make_pg is None:
                print("PostgreSQL binaries not found: the PostgreSQL lines are skipped")
            else:
                results += _backend("PostgreSQL", make_pg)
    return results
