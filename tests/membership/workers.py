"""Functions run in spawned processes by the concurrency tests (importable by module name)."""

from __future__ import annotations

import json
import time
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from userops.domain.membership.points import InsufficientPoints
from userops.membership import ledger, points
from userops.store.db import make_engine


def redeem_many(
    url: str, worker: int, keys: list[str], amount: int, out: str, barrier: Barrier
) -> None:
    """Redeem `amount` once per key, all workers starting together; write what happened."""
    engine = make_engine(url)
    outcomes: list[dict[str, Any]] = []
    try:
        barrier.wait(timeout=120)
        for key in keys:
            try:
                result = points.redeem(engine, user_id="shared", amount=amount, key=key)
            except InsufficientPoints:
                outcomes.append({"key": key, "ok": False})
                continue
            outcomes.append(
                {"key": key, "ok": True, "replayed": result.replayed, "entry": result.entries[0].id}
            )
    finally:
        engine.dispose()
    Path(out).write_text(json.dumps({"worker": worker, "outcomes": outcomes}))


def redeem_and_hang(url: str, amount: int, ready: Event) -> None:
    """Start a redeem and stop forever inside its transaction, after the ledger entry was
    flushed but before the commit, so the parent can kill the process right there."""

    def hang(self: ledger.Writer, *args: Any, **kwargs: Any) -> None:
        ready.set()
        time.sleep(600)

    ledger.Writer.allocate = hang  # type: ignore[method-assign]
    engine = make_engine(url)
    points.redeem(engine, user_id="shared", amount=amount, key="victim")
