"""API keys: stored by hash, found only while active, revoked by id or unambiguous prefix."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine

from userops.errors import InputError
from userops.store.api_keys import (
    create_api_key,
    find_active_key_by_hash,
    list_api_keys,
    revoke_api_key,
)
from userops.store.db import session_scope
from userops.store.operators import create_operator


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _create(engine: Engine, key: str, *, name: str = "web", created_by: int | None = None) -> int:
    with session_scope(engine) as session:
        stored = create_api_key(
            session, name=name, key_hash=_hash(key), prefix=key[:8], created_by=created_by
        )
        return stored.id


def test_create_find_and_list(engine: Engine) -> None:
    with session_scope(engine) as session:
        owner = create_operator(
            session, username="admin", display_name="A", password_hash="h", role="admin"
        ).id
    _create(engine, "uok_aaaa1111secret", name="web shop", created_by=owner)
    _create(engine, "uok_bbbb2222secret", name="app")
    with session_scope(engine, read_only=True) as session:
        found = find_active_key_by_hash(session, key_hash=_hash("uok_aaaa1111secret"))
        missing = find_active_key_by_hash(session, key_hash=_hash("uok_unknown"))
        listed = [(key.name, key.prefix, key.created_by) for key in list_api_keys(session)]
    assert found is not None
    assert (found.name, found.prefix, found.created_by) == ("web shop", "uok_aaaa", owner)
    assert missing is None
    assert listed == [("web shop", "uok_aaaa", owner), ("app", "uok_bbbb", None)]


def test_revoked_keys_are_not_found_and_revoking_twice_changes_nothing(engine: Engine) -> None:
    key_id = _create(engine, "uok_aaaa1111secret")
    with session_scope(engine) as session:
        first = revoke_api_key(session, prefix="uok_aaaa").revoked_at
    with session_scope(engine) as session:
        again = revoke_api_key(session, key_id=key_id).revoked_at
        assert find_active_key_by_hash(session, key_hash=_hash("uok_aaaa1111secret")) is None
        assert list_api_keys(session, include_revoked=False) == []
    assert first is not None
    assert again == first


def test_ambiguous_prefix_is_refused(engine: Engine) -> None:
    _create(engine, "uok_aaaa1111one")
    _create(engine, "uok_aaaa1111two")
    with pytest.raises(InputError, match="revoke by id"), session_scope(engine) as session:
        revoke_api_key(session, prefix="uok_aaaa")
    with session_scope(engine, read_only=True) as session:
        assert len(list_api_keys(session, include_revoked=False)) == 2


def test_prefix_of_one_active_key_among_revoked_ones_revokes_it(engine: Engine) -> None:
    old = _create(engine, "uok_aaaa1111old")
    with session_scope(engine) as session:
        revoke_api_key(session, key_id=old)
    new = _create(engine, "uok_aaaa1111new")
    with session_scope(engine) as session:
        assert revoke_api_key(session, prefix="uok_aaaa").id == new


def test_duplicate_hash_is_refused_and_stores_nothing(engine: Engine) -> None:
    _create(engine, "uok_aaaa1111secret")
    with pytest.raises(InputError, match="already exists"):
        _create(engine, "uok_aaaa1111secret", name="copy")
    with session_scope(engine, read_only=True) as session:
        assert [key.name for key in list_api_keys(session)] == ["web"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key_hash": "not-a-digest"}, "sha256"),
        ({"prefix": ""}, "1 to 8 characters"),
        ({"prefix": "uok_aaaa1"}, "1 to 8 characters"),
        ({"name": "  "}, "name is empty"),
        ({"created_by": 999}, "no operator with id 999"),
    ],
)
def test_bad_inputs_are_refused(engine: Engine, fields: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "name": "web",
        "key_hash": _hash("k"),
        "prefix": "uok_aaaa",
        "created_by": None,
        **fields,
    }
    with pytest.raises(InputError, match=message), session_scope(engine) as session:
        create_api_key(session, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({}, "by its id or by its prefix"),
        ({"key_id": 1, "prefix": "uok_aaaa"}, "by its id or by its prefix"),
        ({"key_id": 404}, "no API key with id 404"),
        ({"prefix": "uok_zzzz"}, "no API key with prefix 'uok_zzzz'"),
    ],
)
def test_revoking_needs_one_existing_key(
    engine: Engine, target: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message), session_scope(engine) as session:
        revoke_api_key(session, **target)  # type: ignore[arg-type]
