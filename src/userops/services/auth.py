"""Operators, passwords, login sessions and the demo admin: what both faces (console and JSON API)
and the CLI share about who is signed in and what they may change.

- Passwords are hashed with Argon2 through pwdlib; a hash made with older parameters is replaced
  at the next successful login.
- Every change to an account (create, role, password, deactivate, reactivate) writes an audit
  entry in the same transaction, naming the actor (an operator's username, `cli` or `system`).
- The last active admin cannot be demoted or deactivated: somebody must be able to manage the
  accounts.
- A login session is a signed cookie (`SessionCodec`): HMAC-SHA256 over a small JSON payload with
  the operator's id, a CSRF token, the time it was issued and a stamp of the password hash, so a
  password change or a deactivation ends every session of that operator at its next request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from userops.domain.roles import ROLES, is_role
from userops.errors import ConflictError, InputError, NotFoundError
from userops.settings import Settings
from userops.store import audit
from userops.store import operators as repo
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import AuditEntry, Operator
from userops.store.types import utcnow

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
DEMO_ADMIN_FILE = "demo-admin.txt"
DEMO_ADMIN_USERNAME = "admin"

SESSION_COOKIE: Final = "userops_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SESSION_MAX_AGE: Final = 12 * 3600
"""Seconds a login lasts; the operator signs in again after a working day."""

_hasher = PasswordHash.recommended()


class OperatorNotFound(NotFoundError):
    """No operator has the username given."""


class OperatorConflict(ConflictError):
    """The change would break a rule about accounts (a taken username, losing the last admin)."""


# --- passwords -------------------------------------------------------------------------------


def check_password_policy(password: str) -> None:
    """Refuse passwords too short to resist guessing, or absurdly long (hashing cost)."""
    if len(password) < PASSWORD_MIN:
        raise InputError(f"the password is too short: use at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InputError(f"the password is longer than {PASSWORD_MAX} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when `password` matches; an unreadable hash matches nothing."""
    try:
        return _hasher.verify(password, password_hash)
    except PwdlibError:
        return False


@cache
def _decoy_hash() -> str:
    # Verifying against this when a username is unknown makes a failed login take as long
    # whether or not the account exists.
    return hash_password(secrets.token_urlsafe(16))


def _password_stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


# --- operators -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    """An operator as the faces see it: no password hash, only a stamp of it for sessions."""

    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    locale: str | None = None
    password_stamp: str = field(default="", repr=False)

    @classmethod
    def of(cls, operator: Operator) -> OperatorInfo:
        return cls(
            id=operator.id,
            username=operator.username,
            display_name=operator.display_name,
            role=operator.role,
            is_active=operator.is_active,
            created_at=operator.created_at,
            last_login_at=operator.last_login_at,
            locale=operator.locale,
            password_stamp=_password_stamp(operator.password_hash),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


@dataclass(frozen=True, slots=True)
class AuditInfo:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditInfo:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            detail=dict(entry.detail or {}),
        )


@contextmanager
def app_database(settings: Settings) -> Iterator[Engine]:
    """The application database at the current schema, for commands that run outside the server."""
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _check_role(role: str) -> None:
    if not is_role(role):
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")


def create_operator_account(
    engine: Engine,
    *,
    username: str,
    password: str,
    role: str,
    actor: str,
    display_name: str = "",
) -> OperatorInfo:
    """Add an operator with a hashed password, and say who did it in the audit log."""
    _check_role(role)
    check_password_policy(password)
    password_hash = hash_password(password)
    with session_scope(engine) as session:
        if repo.get_operator_by_username(session, username=username) is not None:
            raise OperatorConflict(
                f"operator {repo.normalise_username(username)!r} already exists "
                "(usernames ignore case); choose another username"
            )
        operator = repo.create_operator(
            session,
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            role=role,
        )
        audit.append_audit(
            session,
            actor=actor,
            action="operators.create",
            target=operator.username,
            detail={"role": role},
        )
        return OperatorInfo.of(operator)


def _active_admins(session: Session) -> list[Operator]:
    return [op for op in repo.list_operators(session, include_inactive=False) if op.role == "admin"]


def _refuse_losing_last_admin(session: Session, operator: Operator, what: str) -> None:
    if operator.role == "admin" and operator.is_active and len(_active_admins(session)) <= 1:
        raise OperatorConflict(
            f"{operator.username!r} is the last active admin and cannot be {what}; "
            "make another operator admin first"
        )


def _existing(session: Session, username: str) -> Operator:
    operator = repo.get_operator_by_username(session, username=username)
    if operator is None:
        raise OperatorNotFound(f"no operator named {repo.normalise_username(username)!r}")
    return operator


def change_role(engine: Engine, *, username: str, role: str, actor: str) -> OperatorInfo:
    """Give an operator another role; the last active admin keeps theirs."""
    _check_role(role)
    with session_scope(engine) as session:
        operator = _existing(session, username)
        before = operator.role
        if before == role:
            return OperatorInfo.of(operator)
        if role != "admin":
            _refuse_losing_last_admin(session, operator, "demoted")
        repo.set_operator_role(session, username=operator.username, role=role)
        audit.append_audit(
            session,
            actor=actor,
            action="operators.set_role",
            target=operator.username,
            detail={"from": before, "to": role},
        )
        return OperatorInfo.of(operator)


def deactivate_operator_account(engine: Engine, *, username: str, actor: str) -> OperatorInfo:
    """Stop an operator from signing in (their sessions end at the next request)."""
    with session_scope(engine) as session:
        operator = _existing(session, username)
        if not operator.is_active:
            return OperatorInfo.of(operator)
        _refuse_losing_last_admin(session, operator, "deactivated")
        repo.deactivate_operator(session, username=operator.username)
        audit.append_audit(
            session, actor=actor, action="operators.deactivate", target=operator.username
        )
        return OperatorInfo.of(operator)


def reactivate_operator_account(engine: Engine, *, username: str, actor: str) -> OperatorInfo:
    """Let a deactivated operator sign in again, with the role they had."""
    with session_scope(engine) as session:
        operator = _existing(session, username)
        if operator.is_active:
            return OperatorInfo.of(operator)
        operator.is_active = True
        session.flush()
        audit.append_audit(
            session, actor=actor, action="operators.reactivate", target=operator.username
        )
        return OperatorInfo.of(operator)


def set_password(engine: Engine, *, username: str, password: str, actor: str) -> OperatorInfo:
    """Replace an operator's password; their open sessions end (the password stamp changes)."""
    check_password_policy(password)
    password_hash = hash_password(password)
    with session_scope(engine) as session:
        operator = _existing(session, username)
        operator.password_hash = password_hash
        session.flush()
        audit.append_audit(
            session, actor=actor, action="operators.set_password", target=operator.username
        )
        return OperatorInfo.of(operator)


def list_operator_accounts(engine: Engine) -> list[OperatorInfo]:
    with session_scope(engine, read_only=True) as session:
        return [OperatorInfo.of(op) for op in repo.list_operators(session)]


def find_operator_account(engine: Engine, *, username: str) -> OperatorInfo | None:
    with session_scope(engine, read_only=True) as session:
        operator = repo.get_operator_by_username(session, username=username)
        return OperatorInfo.of(operator) if operator is not None else None


def get_operator_account(engine: Engine, *, operator_id: int) -> OperatorInfo | None:
    with session_scope(engine, read_only=True) as session:
        operator = session.get(Operator, operator_id)
        return OperatorInfo.of(operator) if operator is not None else None


def list_audit_entries(engine: Engine, *, limit: int = 100, offset: int = 0) -> list[AuditInfo]:
    with session_scope(engine, read_only=True) as session:
        return [AuditInfo.of(e) for e in audit.list_audit(session, limit=limit, offset=offset)]


def authenticate(engine: Engine, *, username: str, password: str) -> OperatorInfo | None:
    """The active operator with these credentials, with the login recorded; None otherwise.

    An unknown username costs the same hashing time as a wrong password.
    """
    with session_scope(engine, read_only=True) as session:
        operator = repo.get_operator_by_username(session, username=username)
        stored = operator.password_hash if operator is not None else _decoy_hash()
        active = operator is not None and operator.is_active
    try:
        valid, new_hash = _hasher.verify_and_update(password, stored)
    except PwdlibError:
        valid, new_hash = False, None
    if not (valid and active and operator is not None):
        return None
    with session_scope(engine) as session:
        current = session.get(Operator, operator.id)
        if current is None or not current.is_active:
            return None
        current.last_login_at = utcnow()
        if new_hash is not None:
            current.password_hash = new_hash
        session.flush()
        audit.append_audit(session, actor=current.username, action="auth.login")
        return OperatorInfo.of(current)


# --- demo admin ------------------------------------------------------------------------------


def _read_demo_login(path: Path) -> tuple[str, str] | None:
    try:
        lines = dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
    except OSError:
        return None
    username, password = lines.get("username", "").strip(), lines.get("password", "").strip()
    return (username, password) if username and password else None


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def ensure_demo_admin(settings: Settings) -> tuple[str, str] | None:
    """The demo admin's login to print, creating the account when no admin exists yet.

    With no active admin, creates `admin` with a random password kept in
    <data_dir>/demo-admin.txt (mode 0600). Afterwards returns that login while the file still
    matches the account; once the password was changed (or the account demoted) returns None.
    """
    path = settings.ensure_data_dir() / DEMO_ADMIN_FILE
    with app_database(settings) as engine:
        with session_scope(engine, read_only=True) as session:
            has_admin = bool(_active_admins(session))
            named = repo.get_operator_by_username(session, username=DEMO_ADMIN_USERNAME)
        if not has_admin and named is None:
            password = secrets.token_urlsafe(12)
            create_operator_account(
                engine,
                username=DEMO_ADMIN_USERNAME,
                password=password,
                role="admin",
                actor=audit.ACTOR_SYSTEM,
                display_name="Demo admin",
            )
            _write_private(path, f"username: {DEMO_ADMIN_USERNAME}\npassword: {password}\n")
            return DEMO_ADMIN_USERNAME, password
        login = _read_demo_login(path)
        if login is None:
            return None
        with session_scope(engine, read_only=True) as session:
            operator = repo.get_operator_by_username(session, username=login[0])
            matches = (
                operator is not None
                and operator.is_active
                and operator.role == "admin"
                and verify_password(login[1], operator.password_hash)
            )
        return login if matches else None


# --- sessions and CSRF -----------------------------------------------------------------------


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def session_codec(secret_key: str) -> SessionCodec:
    """The codec for a secret key (`Settings.resolved_secret_key()`), built once."""
    return SessionCodec(secret_key)


class SessionCodec:
    """Signs and reads the session cookie: `<base64 JSON payload>.<base64 HMAC-SHA256>`.

    The payload is readable by its holder but cannot be changed; it carries no secret (ids, a
    random CSRF token, times and an HMAC of the password-hash stamp).
    """

    def __init__(self, secret_key: str, *, max_age: int = SESSION_MAX_AGE):
        self._key = hmac.new(secret_key.encode(), b"userops.session.v1", hashlib.sha256).digest()
        self.max_age = max_age

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def dumps(self, data: dict[str, Any]) -> str:
        body = dict(data)
        body.setdefault("iat", int(time.time()))
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def loads(self, value: str | None, *, now: float | None = None) -> dict[str, Any]:
        """The session in a cookie value; an empty dict when absent, forged or expired."""
        if not value or value.count(".") != 1:
            return {}
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return {}
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return {}
        if not isinstance(data, dict):
            return {}
        issued = data.get("iat")
        current = time.time() if now is None else now
        if not isinstance(issued, int) or not issued - 60 <= current <= issued + self.max_age:
            return {}
        return data

    def stamp(self, operator: OperatorInfo) -> str:
        """What a session remembers of the operator's password hash: it changes with it."""
        digest = hmac.new(self._key, operator.password_stamp.encode(), hashlib.sha256).digest()
        return _b64(digest[:12])


def login_session(codec: SessionCodec, operator: OperatorInfo) -> dict[str, Any]:
    """A fresh session for an operator who just signed in (a new CSRF token too)."""
    return {
        "op": operator.id,
        "stamp": codec.stamp(operator),
        "csrf": new_csrf_token(),
        "iat": int(time.time()),
    }


def session_operator(
    engine: Engine, codec: SessionCodec, session: dict[str, Any]
) -> OperatorInfo | None:
    """The operator a session belongs to, while they are active and their password unchanged."""
    operator_id = session.get("op")
    if not isinstance(operator_id, int):
        return None
    operator = get_operator_account(engine, operator_id=operator_id)
    if operator is None or not operator.is_active:
        return None
    if not hmac.compare_digest(str(session.get("stamp", "")), codec.stamp(operator)):
        return None
    return operator


class LoginThrottle:
    """Slows password guessing: after `limit` failures for one username from one address within
    `window` seconds, that pair is refused until the window passes. In memory, per process."""

    def __init__(self, *, limit: int = 5, window: float = 300.0, max_keys: int = 10_000):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, username: str, address: str, *, now: float | None = None) -> bool:
        key = (repo.normalise_username(username), address)
        with self._lock:
            return len(self._recent(key, time.monotonic() if now is None else now)) >= self.limit

    def failed(self, username: str, address: str, *, now: float | None = None) -> None:
        key = (repo.normalise_username(username), address)
        moment = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for stale in [
                    k for k, v in self._failures.items() if moment - v[-1] >= self.window
                ]:
                    del self._failures[stale]
            self._failures[key] = [*self._recent(key, moment), moment]

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((repo.normalise_username(username), address), None)
