"""Operators: case-insensitive unique usernames, known roles, nothing stored on a bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from userops.errors import InputError
from userops.store.db import session_scope
from userops.store.models import Operator
from userops.store.operators import (
    create_operator,
    deactivate_operator,
    get_operator_by_username,
    list_operators,
    set_operator_role,
)


def _create(engine: Engine, username: str, role: str = "operator") -> None:
    with session_scope(engine) as session:
        create_operator(
            session,
            username=username,
            display_name=f"{username.strip()} display",
            password_hash="$argon2id$fake",
            role=role,
        )


def _usernames(engine: Engine) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return [operator.username for operator in list_operators(session)]


def test_create_and_list_operators(engine: Engine) -> None:
    _create(engine, "Zoe", role="admin")
    _create(engine, "  Alice ")
    assert _usernames(engine) == ["alice", "zoe"]
    with session_scope(engine, read_only=True) as session:
        alice = get_operator_by_username(session, username="ALICE")
    assert alice is not None
    assert (alice.display_name, alice.role, alice.is_active) == ("Alice display", "operator", True)
    assert alice.created_at.tzinfo is not None
    assert alice.last_login_at is None


def test_duplicate_username_in_another_case_is_refused(engine: Engine) -> None:
    _create(engine, "alice")
    with pytest.raises(InputError, match="'alice' already exists"):
        _create(engine, "ALICE")
    assert _usernames(engine) == ["alice"]


def test_duplicate_keeps_the_callers_transaction_usable(engine: Engine) -> None:
    with session_scope(engine) as session:
        kwargs = {"display_name": "B", "password_hash": "h", "role": "viewer"}
        create_operator(session, username="bob", **kwargs)
        with pytest.raises(InputError):
            create_operator(session, username="Bob", **kwargs)
        create_operator(session, username="carol", **kwargs)
    assert _usernames(engine) == ["bob", "carol"]


@pytest.mark.parametrize("role", ["root", "Admin", ""])
def test_bad_role_is_refused_with_the_allowed_roles_and_stores_nothing(
    engine: Engine, role: str
) -> None:
    with pytest.raises(InputError, match="not one of admin, operator, analyst, viewer"):
        _create(engine, "dave", role=role)
    assert _usernames(engine) == []


@pytest.mark.parametrize(
    ("username", "reason"), [("", "empty"), ("a b", "spaces"), ("x" * 65, "longer than 64")]
)
def test_bad_usernames_are_refused(engine: Engine, username: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        _create(engine, username)


def test_database_enforces_role_and_lowercase_without_the_repository(engine: Engine) -> None:
    for username, role in (("eve", "root"), ("Eve", "viewer")):
        row = Operator(username=username, display_name="E", password_hash="h", role=role)
        with pytest.raises(IntegrityError), session_scope(engine) as session:
            session.add(row)


def test_set_role_and_deactivate(engine: Engine) -> None:
    _create(engine, "frank")
    with session_scope(engine) as session:
        assert set_operator_role(session, username="Frank", role="analyst").role == "analyst"
        assert deactivate_operator(session, username="frank").is_active is False
    with session_scope(engine, read_only=True) as session:
        assert list_operators(session, include_inactive=False) == []
        [frank] = list_operators(session)
    assert (frank.role, frank.is_active) == ("analyst", False)


def test_changing_an_unknown_operator_or_to_a_bad_role_is_refused(engine: Engine) -> None:
    _create(engine, "grace")
    with pytest.raises(InputError, match="no operator named 'nobody'"), session_scope(engine) as s:
        deactivate_operator(s, username="nobody")
    with pytest.raises(InputError, match="not one of"), session_scope(engine) as s:
        set_operator_role(s, username="grace", role="owner")
    with session_scope(engine, read_only=True) as session:
        grace = get_operator_by_username(session, username="grace")
    assert grace is not None
    assert grace.role == "operator"
