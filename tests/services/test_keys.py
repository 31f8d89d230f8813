"""Write keys: shown once, stored as sha256, verified, revoked, audited; and their CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from userops.errors import InputError
from userops.services import keys
from userops.store.audit import list_audit
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import ApiKey


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_a_key_is_shown_once_and_stored_as_its_sha256(engine: Engine) -> None:
    created = keys.create_write_key(engine, name=" web shop ", actor="cli")
    secret = created.secret
    assert secret.startswith("uo_wk_") and len(secret) == len("uo_wk_") + 43
    assert created.info.prefix == secret[6:14]
    assert created.info.shown_prefix == secret[:14]
    assert created.info.name == "web shop" and created.info.active
    with session_scope(engine, read_only=True) as session:
        [stored] = session.scalars(select(ApiKey)).all()
        assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in {str(v) for v in vars(stored).values()}
    assert created.as_json()["key"] == secret
    assert "key" not in created.info.as_json()


def test_verify_accepts_only_active_keys_and_notes_their_use(engine: Engine) -> None:
    secret = keys.create_write_key(engine, name="app", actor="cli").secret
    key_id = keys.verify_write_key(engine, secret=secret)
    assert key_id is not None
    assert keys.verify_write_key(engine, secret=secret + "x") is None
    assert keys.verify_write_key(engine, secret="") is None
    [info] = keys.list_write_keys(engine)
    assert info.last_used_at is not None
    keys.revoke_write_key(engine, actor="admin", key_id=key_id)
    assert keys.verify_write_key(engine, secret=secret) is None


def test_revoke_by_id_or_prefix_and_audit_only_real_changes(engine: Engine) -> None:
    first = keys.create_write_key(engine, name="one", actor="cli").info
    second = keys.create_write_key(engine, name="two", actor="alice").info
    revoked = keys.revoke_write_key(engine, actor="cli", prefix=second.shown_prefix)
    assert revoked.id == second.id and not revoked.active
    again = keys.revoke_write_key(engine, actor="cli", key_id=second.id)
    assert again.revoked_at == revoked.revoked_at
    keys.revoke_write_key(engine, actor="cli", prefix=first.prefix)
    assert [k.active for k in keys.list_write_keys(engine)] == [False, False]
    assert keys.list_write_keys(engine, include_revoked=False) == []
    with session_scope(engine, read_only=True) as session:
        entries = [
            (e.actor, e.action, e.target, e.detail["prefix"]) for e in reversed(list_audit(session))
        ]
    assert entries == [
        ("cli", "keys.create", f"api_key:{first.id}", first.shown_prefix),
        ("alice", "keys.create", f"api_key:{second.id}", second.shown_prefix),
        ("cli", "keys.revoke", f"api_key:{second.id}", second.shown_prefix),
        ("cli", "keys.revoke", f"api_key:{first.id}", first.shown_prefix),
    ]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("12", (12, None)), ("uo_wk_Ab3dE6gH", (None, "Ab3dE6gH")), ("Ab3d", (None, "Ab3d"))],
)
def test_parse_key_ref(ref: str, expected: tuple[int | None, str | None]) -> None:
    assert keys.parse_key_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "uo_wk_", "uo_wk_123456789", "far-too-long-prefix"])
def test_parse_key_ref_refuses(ref: str) -> None:
    with pytest.raises(InputError, match="neither a key id nor a key prefix"):
        keys.parse_key_ref(ref)


def test_an_empty_name_or_unknown_key_is_an_input_error(engine: Engine) -> None:
    with pytest.raises(InputError, match="name is empty"):
        keys.create_write_key(engine, name="  ", actor="cli")
    with pytest.raises(InputError, match="no API key with id 99"):
        keys.revoke_write_key(engine, actor="cli", key_id=99)


def _userops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USEROPS_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "userops", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = _userops(data, "keys", "create", "--name", "web shop", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["key"].startswith(created["prefix"]) and created["active"] is True
    plain = _userops(data, "keys", "create", "--name", "app")
    assert plain.returncode == 0
    secret = plain.stdout.strip().splitlines()[-1]
    assert secret.startswith("uo_wk_") and "shown only now" in plain.stdout
    listed = json.loads(_userops(data, "keys", "list", "--json").stdout)
    assert [(k["name"], k["active"]) for k in listed] == [("web shop", True), ("app", True)]
    assert all("key" not in k for k in listed)
    revoked = _userops(data, "keys", "revoke", created["prefix"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    table = _userops(data, "keys", "list").stdout
    assert "web shop" in table and "revoked" in table and secret[:14] in table
    missing = _userops(data, "keys", "revoke", "77")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no API key with id 77"
