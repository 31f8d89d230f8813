"""A 200 means durable: events acknowledged just before a SIGKILL of the server are all there.

Several client threads send batches to a real server; the moment one of them receives a 200, it
kills the server with SIGKILL (no shutdown handler, no checkpoint). The warehouse then opens
cleanly and holds every event of every acknowledged batch, once. The server is started again on
the same data and the cycle repeats; the acknowledged batches sent again store nothing twice.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from userops.settings import Settings

from .conftest import ServerProcess, basic, new_key

pytestmark = pytest.mark.slow

THREADS = 4
BATCH = 200
ROUNDS = 2
ACKS_BEFORE_KILL = 5


def _batch(round_: int, thread: int, n: int) -> dict[str, object]:
    return {
        "batch": [
            {
                "type": "track",
                "messageId": f"r{round_}-t{thread}-b{n}-{i}",
                "event": "view_item",
                "userId": f"u{i % 37}",
                "anonymousId": f"a{i % 53}",
                "timestamp": "2026-11-01T10:00:00+08:00",
                "properties": {"item_id": f"sku-{i}", "revenue": i % 10, "pad": "x" * 200},
            }
            for i in range(BATCH)
        ]
    }


def _hammer(server: ServerProcess, key: str, round_: int) -> list[str]:
    """Send until the server dies; the thread that gets the Nth 200 kills it at once."""
    acked: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def client(thread: int) -> None:
        with httpx2.Client(base_url=server.url, headers=basic(key), timeout=30) as http:
            n = 0
            while not killed.is_set():
                body = _batch(round_, thread, n)
                try:
                    response = http.post("/v1/batch", json=body)
                except httpx2.TransportError:
                    return  # the server is gone; this batch's fate is unknown, so not counted
                if response.status_code != 200:
                    continue
                with lock:
                    acked.extend(str(m["messageId"]) for m in body["batch"])  # type: ignore[index]
                    if len(acked) >= ACKS_BEFORE_KILL * BATCH and not killed.is_set():
                        os.kill(server.proc.pid, signal.SIGKILL)
                        killed.set()
                n += 1

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    server.proc.wait(timeout=30)
    assert killed.is_set(), "the server was not killed"
    return acked


def test_no_acknowledged_event_is_lost_to_a_kill(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    data = tmp_path / "data"
    key = new_key(Settings(data_dir=data))
    all_acked: list[str] = []
    for round_ in range(ROUNDS):
        server = server_factory(data)
        acked = _hammer(server, key, round_)
        assert server.proc.returncode == -signal.SIGKILL
        all_acked += acked
        stored = {m for (m,) in server.rows("SELECT message_id FROM events")}
        missing = set(all_acked) - stored
        assert not missing, f"round {round_}: {len(missing)} acknowledged events lost"
        [(rows, distinct)] = server.rows("SELECT count(*), count(DISTINCT message_id) FROM events")
        assert rows == distinct

    # Retrying what was acknowledged stores nothing twice.
    server = server_factory(data)
    with httpx2.Client(base_url=server.url, headers=basic(key), timeout=60) as http:
        retry = http.post("/v1/batch", json=_batch(0, 0, 0)).json()
    assert retry == {"success": True, "accepted": 0, "duplicates": BATCH}
    server.stop()
    [(rows, distinct)] = server.rows("SELECT count(*), count(DISTINCT message_id) FROM events")
    assert rows == distinct >= len(all_acked)
