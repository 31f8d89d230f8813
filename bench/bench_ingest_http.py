"""HTTP ingestion through a real server against parsing the same batches with orjson.

Demo events are turned into Segment batches of 500 messages (what analytics-python sends, as
JSON bytes). The baseline parses every batch with `orjson.loads`, on one thread, and does
nothing else. userops receives the same batches on `POST /v1/batch` from several client threads
(a real `uvicorn` process, one writer), checks every message with the import's rules, dedups,
writes and fsyncs before each 200: durability included. Target: at least 0.25x the parse rate.

Besides the client's wall time (the ratio), it prints what the server measured itself: its
rate between its first and last commit of the run (from `events.received_at`, the commit
times), and the CPU seconds of the server process and of the client threads, so a slow client
or a machine shared with other work shows.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from bench.common import Result, demo_events, timed
from userops.services import keys
from userops.settings import Settings
from userops.warehouse.connection import open_warehouse

EVENTS = 200_000
BATCH = 500
THREADS = 8


def segment_batches(path: Path, events: int, size: int = BATCH) -> list[bytes]:
    """The first `events` demo events as Segment messages, in request bodies of `size`."""
    con = duckdb.connect()
    rows = con.execute(
        "SELECT message_id, type, event, user_id, anonymous_id, "
        "strftime(timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ'), properties, context "
        "FROM read_parquet(?) LIMIT ?",
        [str(path), events],
    ).fetchall()
    con.close()
    messages = []
    for message_id, kind, event, user_id, anonymous_id, ts, properties, context in rows:
        message: dict[str, Any] = {
            "type": kind,
            "messageId": message_id,
            "userId": user_id,
            "anonymousId": anonymous_id,
            "timestamp": ts,
            "context": orjson.loads(context) if context else {},
            "integrations": {},
        }
        data = orjson.loads(properties) if properties else {}
        if kind == "identify":
            message["traits"] = data
        elif kind in ("page", "screen"):
            message["name"], message["properties"] = event, data
        else:
            message["event"], message["properties"] = event, data
        messages.append(message)
    sent_at = "2026-11-01T00:00:00.000Z"
    return [
        orjson.dumps({"batch": messages[i : i + size], "sentAt": sent_at})
        for i in range(0, len(messages), size)
    ]


def _parse_all(bodies: list[bytes]) -> None:
    for body in bodies:
        orjson.loads(body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, data_dir: Path):
        self.port = _free_port()
        # No daily jobs: a server's first start catches up the day's tag refresh, which would
        # share the 2 cores with the ingestion measured here (it runs once a day otherwise).
        env = {**os.environ, "USEROPS_DATA_DIR": str(data_dir), "USEROPS_SCHEDULER": "0"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "userops.server:app_factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def _send_all(port: int, key: str, bodies: list[bytes], threads: int) -> None:
    """POST every body once, from `threads` keep-alive connections; every answer must be 200."""
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    failures: list[str] = []
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            conn.request("POST", "/v1/batch", bodies[i], headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(f"batch {i}: {response.status} {answer[:300]!r}")
        conn.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed, the first: {failures[0]}")


@dataclass(frozen=True)
class _Run:
    wall_s: float  # the client's: first request sent to last answer received
    commits_s: float  # the server's: first to last commit of the run's events
    server_cpu_s: float
    client_cpu_s: float


def _commit_span(data: Path) -> float:
    """Seconds between the first and the last commit of the run (the warm-up excluded)."""
    with open_warehouse(Settings(data_dir=data)) as wh:
        [(span,)] = wh.sql(
            "SELECT epoch(max(received_at)) - epoch(min(received_at)) FROM events "
            "WHERE message_id <> 'warm-up'"
        )
    return float(span or 0.0)


def _ours(bodies: list[bytes], workdir: Path, threads: int) -> _Run:
    """Ingest every batch through a fresh server (after one warm-up batch)."""
    data = workdir / "server"
    shutil.rmtree(data, ignore_errors=True)
    with keys.open_database(Settings(data_dir=data)) as engine:
        key = keys.create_write_key(engine, name="bench", actor="cli").secret
    server = _Server(data)
    try:
        warm = orjson.dumps(
            {"batch": [{"type": "track", "event": "warm", "userId": "w", "messageId": "warm-up"}]}
        )
        _send_all(server.port, key, [warm], 1)
        cpu, client_cpu = server.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        _send_all(server.port, key, bodies, threads)
        wall = time.perf_counter() - started
        cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - client_cpu
    finally:
        server.stop()
    return _Run(wall, _commit_span(data), cpu, client_cpu)


def run(events: int = EVENTS, threads: int = THREADS) -> list[Result]:
    path = demo_events(1_000_000)
    bodies = segment_batches(path, events)
    baseline = timed(lambda: _parse_all(bodies), repeat=3)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        runs = [_ours(bodies, Path(tmp), threads) for _ in range(2)]
    best = min(runs, key=lambda r: r.wall_s)
    ours = best.wall_s
    load = os.getloadavg()
    print(
        f"ingest_http: best of {len(runs)} runs: client wall {best.wall_s:.2f}s "
        f"({events / best.wall_s:,.0f} events/s); server, first to last commit "
        f"{best.commits_s:.2f}s ({events / max(best.commits_s, 1e-9):,.0f} events/s); CPU: "
        f"server {best.server_cpu_s:.2f}s ({best.server_cpu_s / events * 1e6:.1f} us/event), "
        f"client {best.client_cpu_s:.2f}s ({best.client_cpu_s / events * 1e6:.1f} us/event); "
        f"orjson baseline {baseline:.2f}s; load average {load[0]:.2f} {load[1]:.2f} (2 cores)"
    )
    return [
        Result(
            name=f"HTTP /v1/batch {events / 1e3:g}k events ({BATCH}/batch, {threads} threads)",
            ours_s=ours,
            baseline_s=baseline,
            baseline="orjson.loads of the same batches",
            target=">=0.25x",
            units=events,
        )
    ]


if __name__ == "__main__":
    from bench.common import print_table

    print_table(run())
