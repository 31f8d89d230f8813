"""Fixtures of the ingestion API tests: an in-process app with a write key, and a real server.

`ServerProcess` runs `uvicorn --factory userops.server:app_factory` on a free port of 127.0.0.1
with its own data folder, as `userops serve` would; the tests talk to it over HTTP, kill it, and
read its warehouse after it has stopped (DuckDB lets one process hold the file).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from userops.server import create_app
from userops.services import keys
from userops.settings import Settings
from userops.warehouse.connection import open_warehouse

_START_ATTEMPTS = 4


def basic(key: str) -> dict[str, str]:
    """The Authorization header Segment's SDKs send: the key as the Basic username."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def new_key(settings: Settings, name: str = "test") -> str:
    with keys.open_database(settings) as engine:
        return keys.create_write_key(engine, name=name, actor="cli").secret


def warehouse_rows(data_dir: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Rows of a query on the warehouse of a stopped server."""
    with open_warehouse(Settings(data_dir=data_dir)) as wh:
        return wh.sql(sql, params)


@dataclass
class Api:
    """An in-process app (lifespan running) and a good write key."""

    client: TestClient
    settings: Settings
    key: str

    def post(self, path: str, body: Any, *, key: str | None = None, **kw: Any) -> httpx2.Response:
        headers = {**basic(key or self.key), **kw.pop("headers", {})}
        return self.client.post(path, json=body, headers=headers, **kw)

    def sql(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        with self.client.app.state.runtime.warehouse() as wh:  # type: ignore[attr-defined]
            return wh.sql(sql, params)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data", timezone="Asia/Shanghai")
    key = new_key(settings)
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings, key)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no checkpoint, nothing flushed by the process."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        assert self.proc.poll() is not None, "stop the server before reading its warehouse"
        return warehouse_rows(self.data_dir, sql, params)


def start_server(data_dir: Path, *, timeout: float = 60.0) -> ServerProcess:
    """A real server on a free port; a port taken between probing and binding is retried."""
    env = {**os.environ, "USEROPS_DATA_DIR": str(data_dir)}
    data_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(_START_ATTEMPTS):
        port = _free_port()
        log = data_dir.parent / f"server-{port}-{attempt}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "userops.server:app_factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(data_dir, port, proc, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx2.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        server.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start servers on a data folder; every one still running at the end is stopped."""
    started: list[ServerProcess] = []

    def start(data_dir: Path | None = None) -> ServerProcess:
        server = start_server(data_dir or tmp_path / "data")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
