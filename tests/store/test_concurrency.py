"""Several processes writing at once lose nothing: WAL + busy timeout on SQLite, MVCC on PG.

The processes are spawned (not forked), as separate server and CLI processes would be, and
also race to run the migrations, which must happen once.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from tests.store import workers
from userops.store.db import make_engine, session_scope
from userops.store.migrate import current_revision, head_revision
from userops.store.models import AuditEntry

PROCESSES = 4
WRITES_EACH = 40


def _start(target: Callable[..., None], arguments: list[tuple[Any, ...]]) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    processes = [context.Process(target=target, args=(*args, barrier)) for args in arguments]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join()
    codes = [process.exitcode for process in processes]
    assert codes == [0] * len(processes), f"worker exit codes {codes}"


def test_processes_migrating_and_appending_at_once_lose_no_write(db_url: str) -> None:
    arguments = [(db_url, worker, WRITES_EACH) for worker in range(PROCESSES)]
    _start(workers.migrate_and_append, arguments)
    assert current_revision(db_url) == head_revision()
    engine = make_engine(db_url)
    try:
        with session_scope(engine, read_only=True) as session:
            total = session.scalar(select(func.count()).select_from(AuditEntry))
            targets = set(session.scalars(select(AuditEntry.target)))
    finally:
        engine.dispose()
    assert total == PROCESSES * WRITES_EACH
    expected = {f"{worker}:{index}" for worker in range(PROCESSES) for index in range(WRITES_EACH)}
    assert targets == expected
