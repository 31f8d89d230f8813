"""Helpers shared by the console and API tests: an app over a temporary data folder, operators
of every role, signed-in clients and the CSRF token of a client's session."""

from __future__ import annotations

import re
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
