"""Operators: the people who sign in to the console.

Passwords arrive already hashed (the auth service owns hashing); this module only keeps the
rules the database must hold whoever calls it: usernames unique regardless of case, a known role.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.errors import InputError
from userops.store.models import ROLES, Operator

USERNAME_MAX = 64


def normalise_username(username: str) -> str:
    """The stored form of a username: trimmed and lowercase, so `Alice` and `alice` collide."""
    return username.strip().lower()


def create_operator(
    session: Session,
    *,
    username: str,
    display_name: str,
    password_hash: str,
    role: str,
    locale: str | None = None,
) -> Operator:
    """Add an operator; a taken username or an unknown role is an `InputError`, storing nothing."""
    name = _valid_username(username)
    _check_role(role)
    operator = Operator(
        username=name,
        display_name=display_name.strip() or name,
        password_hash=password_hash,
        role=role,
        locale=locale,
    )
    # A savepoint keeps the caller's transaction usable when the name is taken, even when a
    # concurrent writer took it after any check we could make first.
    try:
        with session.begin_nested():
            session.add(operator)
    except IntegrityError as exc:
        raise InputError(
            f"operator {name!r} already exists (usernames ignore case); choose another username"
        ) from exc
    return operator


def get_operator_by_username(session: Session, *, username: str) -> Operator | None:
    """The operator with this username in any case, or None."""
    statement = select(Operator).where(Operator.username == normalise_username(username))
    return session.scalars(statement).one_or_none()


def list_operators(session: Session, *, include_inactive: bool = True) -> list[Operator]:
    """Operators sorted by username."""
    statement = select(Operator).order_by(Operator.username)
    if not include_inactive:
        statement = statement.where(Operator.is_active.is_(True))
    return list(session.scalars(statement))


def set_operator_role(session: Session, *, username: str, role: str) -> Operator:
    """Give an existing operator another role."""
    _check_role(role)
    operator = _existing(session, username)
    operator.role = role
    session.flush()
    return operator


def deactivate_operator(session: Session, *, username: str) -> Operator:
    """Stop an operator from signing in; the row stays so the audit log keeps its meaning."""
    operator = _existing(session, username)
    operator.is_active = False
    session.flush()
    return operator


def _existing(session: Session, username: str) -> Operator:
    operator = get_operator_by_username(session, username=username)
    if operator is None:
        raise InputError(f"no operator named {normalise_username(username)!r}")
    return operator


def _valid_username(username: str) -> str:
    name = normalise_username(username)
    if not name:
        raise InputError("username is empty; give 1 to 64 characters")
    if len(name) > USERNAME_MAX:
        raise InputError(f"username {name[:20]!r}... is longer than {USERNAME_MAX} characters")
    if any(char.isspace() for char in name):
        raise InputError(f"username {name!r} contains spaces; use letters, digits, '.', '_', '-'")
    return name


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
