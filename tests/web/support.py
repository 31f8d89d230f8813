"""Helpers shared by the console and API tests: an app over a temporary data folder, operators
of every role, signed-in clients and the CSRF token of a client's session; for the browser tests,
a real server (uvicorn in a subprocess) over a demo data set, and signing in from chromium."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine

from userops.server import create_app
from userops.services import auth
from userops.services.demo import load_demo
from userops.settings import Settings

PASSWORD = "s3cret-password"
ROLE_NAMES = ("viewer", "analyst", "operator", "admin")
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 with the smallest parameters, so a test signs in in milliseconds, not 0.3 s.

    The hashes are still Argon2id; production parameters are tested in tests/services.
    """
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    auth._decoy_hash.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", cheap)
        yield
    auth._decoy_hash.cache_clear()


def console_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, secret_key="test-secret-key-" * 3)


def engine_of(app: FastAPI) -> Engine:
    engine: Engine = app.state.runtime.engine
    return engine


def csrf_token(client: TestClient, page: str = "/login") -> str:
    """The CSRF token of the client's session, as a page embeds it."""
    match = _TOKEN.search(client.get(page).text)
    assert match, f"no csrf_token on {page}"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


@dataclass
class Console:
    app: FastAPI
    anonymous: TestClient
    clients: dict[str, TestClient]  # role -> client signed in as the operator named like it

    @property
    def engine(self) -> Engine:
        return engine_of(self.app)

    def client(self, who: str) -> TestClient:
        return self.anonymous if who == "anonymous" else self.clients[who]


@contextmanager
def running_console(data_dir: Path) -> Iterator[Console]:
    """An app with one operator per role (username = role), each with a signed-in client."""
    app = create_app(console_settings(data_dir))
    with TestClient(app) as anonymous:
        for role in ROLE_NAMES:
            auth.create_operator_account(
                engine_of(app), username=role, password=PASSWORD, role=role, actor="cli"
            )
        clients = {}
        for role in ROLE_NAMES:
            client = TestClient(app)  # shares the app (and its runtime) started above
            login(client, role)
            clients[role] = client
        yield Console(app=app, anonymous=anonymous, clients=clients)
        for client in clients.values():
            client.close()


# --- a real server for the browser tests ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = ("boss", "boss-password-1")
VIEWER = ("watcher", "watcher-password-1")
DOCS_SCREENSHOT = os.environ.get("USEROPS_DOCS_SCREENSHOT") == "1"


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not answer within 60 s: {log.read_text()[-2000:]}")


@contextmanager
def running_server(data_dir: Path, *, users: int, days: int) -> Iterator[Server]:
    """uvicorn in a subprocess, on a free port, over a demo data set of `users` x `days` (ending
    today), with the admin ADMIN and the viewer VIEWER."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing: run `make system-deps` (apt-get install chromium)"
        )
    load_demo(Settings(data_dir=data_dir), users=users, days=days)
    env = {
        **os.environ,
        "USEROPS_DATA_DIR": str(data_dir),
        "USEROPS_TIMEZONE": "Asia/Shanghai",
        "USEROPS_SCHEDULER": "0",  # no daily jobs racing the test for the warehouse
    }
    env.pop("USEROPS_DATABASE_URL", None)
    env.pop("USEROPS_WAREHOUSE_URL", None)
    with cheap_password_hashing(), auth.app_database(Settings(data_dir=data_dir)) as engine:
        # (the `userops users` commands themselves are tested in tests/cli)
        for (username, password), role in ((ADMIN, "admin"), (VIEWER, "viewer")):
            auth.create_operator_account(
                engine,
                username=username,
                password=password,
                role=role,
                actor="cli",
                display_name="Boss" if role == "admin" else "",
            )
    log = data_dir / "server.log"
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
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
        try:
            _wait_until_up(url, process, log)
        except AssertionError:
            process.kill()
            process.wait()
            if "address already in use" in log.read_text().lower():
                continue  # another test took the port between probing and binding
            raise
        break
    try:
        yield Server(url=url, data_dir=data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_in(page: object, url: str, username: str, password: str) -> None:
    """Open the console in a Playwright page and sign in (the login page asks first)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{url}/")
    page.wait_for_url("**/login*")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
