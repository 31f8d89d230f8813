"""16 processes redeeming against one balance never overspend and lose no write; a process
killed inside its transaction leaves no half entry. On SQLite and PostgreSQL, spawned
processes (as a server and CLI commands would be)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from userops.membership import points
from userops.store.db import session_scope
from userops.store.models import PointsEntry

from . import workers
from .conftest import T0, assert_consistent

PROCESSES = 16
REDEEMS_EACH = 10
AMOUNT = 10
SHARED_KEYS = 4


@pytest.mark.slow
def test_sixteen_processes_redeeming_never_overspend(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    # 1000 points in lots of different lives; the processes ask for 1600 + the shared keys.
    for index, expiry in enumerate(("days:400", "never", "year_end:3", "days:500")):
        points.award(
            engine, user_id="shared", amount=250, key=f"seed-{index}", at=T0, expiry=expiry
        )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    jobs = []
    for worker in range(PROCESSES):
        keys = [f"w{worker}-{i}" for i in range(REDEEMS_EACH)]
        keys += [f"same-{i}" for i in range(SHARED_KEYS)]  # every process sends these
        out = str(tmp_path / f"worker-{worker}.json")
        jobs.append(
            context.Process(
                target=workers.redeem_many,
                args=(migrated_url, worker, keys, AMOUNT, out, barrier),
            )
        )
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=300)
    codes = [job.exitcode for job in jobs]
    assert codes == [0] * PROCESSES, f"worker exit codes {codes}"

    reports = [json.loads((tmp_path / f"worker-{w}.json").read_text()) for w in range(PROCESSES)]
    succeeded = [o for r in reports for o in r["outcomes"] if o["ok"]]
    first_time = {o["key"] for o in succeeded if not o["replayed"]}
    with session_scope(engine, read_only=True) as session:
        spends = dict(
            session.execute(
                select(PointsEntry.idempotency_key, PointsEntry.id).where(
                    PointsEntry.kind == "spend"
                )
            ).all()
        )
    # Nothing lost: every write a process saw succeed is in the ledger, and nothing else is.
    assert set(spends) == first_time
    # Every key applied once: a shared key that succeeded has one entry, which every process
    # that saw it succeed (first or replayed) was told about.
    for o in succeeded:
        assert spends[o["key"]] == o["entry"]
    # Never overspent: exactly the 1000 points were spent, in 100 redeems of 10.
    assert len(spends) * AMOUNT == 1000
    assert assert_consistent(engine, "shared") == 0


@pytest.mark.slow
def test_a_killed_redeemer_leaves_no_half_entry(engine: Engine, migrated_url: str) -> None:
    points.award(engine, user_id="shared", amount=100, key="seed", at=T0)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    victim = context.Process(target=workers.redeem_and_hang, args=(migrated_url, 60, ready))
    victim.start()
    try:
        assert ready.wait(timeout=120), "the victim never reached its write"
        os.kill(victim.pid or 0, signal.SIGKILL)
    finally:
        victim.join(timeout=60)
    assert victim.exitcode == -signal.SIGKILL
    with session_scope(engine, read_only=True) as session:
        keys = list(session.scalars(select(PointsEntry.idempotency_key)))
    assert keys == ["seed"]
    assert assert_consistent(engine, "shared") == 100
    # The lock died with the process: the same key works now, once.
    done = points.redeem(engine, user_id="shared", amount=60, key="victim")
    assert not done.replayed and done.balance.available == 40
