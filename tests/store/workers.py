"""Functions run in spawned processes by the concurrency tests (importable by module name)."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from userops.store.audit import append_audit
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade


def migrate_and_append(url: str, worker: int, count: int, barrier: Barrier) -> None:
    """At the same moment as the other workers, migrate the database (as every process does on
    start) and append `count` audit entries, one transaction each."""
    barrier.wait(timeout=60)
    upgrade(url)
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)  # the barrier is cyclic: start the writes together as well
        for index in range(count):
            with session_scope(engine) as session:
                append_audit(
                    session,
                    actor=f"worker-{worker}",
                    action="test.concurrent",
                    target=f"{worker}:{index}",
                    detail={"worker": worker, "index": index},
                )
    finally:
        engine.dispose()
