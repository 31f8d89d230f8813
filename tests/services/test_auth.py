"""The auth service: password hashing, accounts with their audit trail, the last-admin rule,
sign-in, the demo admin, the session cookie codec and the login throttle.

Account tests run on SQLite and PostgreSQL (`db_url`).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, select

from tests.web.support import cheap_password_hashing
from userops.domain.roles import PERMISSIONS, ROLES, allows, permissions_of
from userops.errors import InputError
from userops.services import auth
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import AuditEntry, Operator

PASSWORD = "correct horse"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database, with Argon2 at its smallest parameters to keep the tests quick
    (`test_passwords_are_hashed_with_argon2` checks the real parameters)."""
    upgrade(db_url)
    engine = make_engine(db_url)
    with cheap_password_hashing():
        yield engine
    engine.dispose()


def audit_rows(engine: Engine) -> list[tuple[str, str, str | None, dict[str, object]]]:
    with session_scope(engine, read_only=True) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.target, dict(e.detail)) for e in entries]


def make(engine: Engine, username: str, role: str = "viewer") -> auth.OperatorInfo:
    return auth.create_operator_account(
        engine, username=username, password=PASSWORD, role=role, actor="cli"
    )


# --- roles -----------------------------------------------------------------------------------

ROLE_TABLE = {
    # role:      view   analyse change admin
    "viewer": (True, False, False, False),
    "analyst": (True, True, False, False),
    "operator": (True, True, True, False),
    "admin": (True, True, True, True),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_role_ladder(role: str, permission: str) -> None:
    expected = ROLE_TABLE[role][PERMISSIONS.index(permission)]
    assert allows(role, permission) is expected


def test_unknown_role_holds_nothing() -> None:
    assert permissions_of("root") == ()
    assert not allows("", "view")


# --- passwords -------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2() -> None:
    hashed = auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # argon2-cffi's defaults
    assert PASSWORD not in hashed
    assert auth.hash_password(PASSWORD) != hashed  # salted
    assert auth.verify_password(PASSWORD, hashed)
    assert not auth.verify_password("wrong horse", hashed)
    assert not auth.verify_password(PASSWORD, "not a hash")


@pytest.mark.parametrize("password", ["", "short", "x" * 1025])
def test_password_policy(password: str) -> None:
    with pytest.raises(InputError):
        auth.check_password_policy(password)


# --- accounts and audit ----------------------------------------------------------------------


def test_create_stores_a_hash_and_writes_the_audit_log(engine: Engine) -> None:
    created = auth.create_operator_account(
        engine, username="Alice", password=PASSWORD, role="analyst", actor="root"
    )
    assert (created.username, created.role, created.is_active) == ("alice", "analyst", True)
    with session_scope(engine, read_only=True) as session:
        stored = session.scalars(select(Operator)).one()
        assert stored.password_hash.startswith("$argon2id$")
    assert audit_rows(engine) == [("root", "operators.create", "alice", {"role": "analyst"})]


def test_create_refuses_taken_names_bad_roles_and_weak_passwords(engine: Engine) -> None:
    make(engine, "alice")
    with pytest.raises(auth.OperatorConflict, match="already exists"):
        make(engine, "ALICE")
    with pytest.raises(InputError, match="role"):
        make(engine, "bob", role="root")
    with pytest.raises(InputError, match="too short"):
        auth.create_operator_account(
            engine, username="carol", password="short", role="viewer", actor="cli"
        )
    assert [row[1] for row in audit_rows(engine)] == ["operators.create"]


def test_role_change_and_deactivation_are_audited(engine: Engine) -> None:
    make(engine, "root", "admin")
    make(engine, "bob")
    assert (
        auth.change_role(engine, username="bob", role="operator", actor="root").role == "operator"
    )
    assert not auth.deactivate_operator_account(engine, username="bob", actor="root").is_active
    assert auth.reactivate_operator_account(engine, username="bob", actor="root").is_active
    assert audit_rows(engine)[2:] == [
        ("root", "operators.set_role", "bob", {"from": "viewer", "to": "operator"}),
        ("root", "operators.deactivate", "bob", {}),
        ("root", "operators.reactivate", "bob", {}),
    ]


def test_no_change_writes_no_audit_entry(engine: Engine) -> None:
    make(engine, "root", "admin")
    make(engine, "bob")
    auth.change_role(engine, username="bob", role="viewer", actor="root")
    auth.reactivate_operator_account(engine, username="bob", actor="root")
    assert len(audit_rows(engine)) == 2


def test_the_last_active_admin_stays_admin(engine: Engine) -> None:
    make(engine, "root", "admin")
    with pytest.raises(auth.OperatorConflict, match="last active admin"):
        auth.change_role(engine, username="root", role="viewer", actor="root")
    with pytest.raises(auth.OperatorConflict, match="last active admin"):
        auth.deactivate_operator_account(engine, username="root", actor="root")
    make(engine, "second", "admin")
    auth.deactivate_operator_account(engine, username="root", actor="second")
    with pytest.raises(auth.OperatorConflict):
        auth.change_role(engine, username="second", role="operator", actor="second")


def test_unknown_operator(engine: Engine) -> None:
    with pytest.raises(auth.OperatorNotFound, match="no operator named 'ghost'"):
        auth.change_role(engine, username="Ghost", role="viewer", actor="cli")


# --- signing in ------------------------------------------------------------------------------


def test_authenticate_records_the_login(engine: Engine) -> None:
    make(engine, "alice")
    operator = auth.authenticate(engine, username=" ALICE ", password=PASSWORD)
    assert operator is not None and operator.last_login_at is not None
    assert audit_rows(engine)[-1][:2] == ("alice", "auth.login")


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong horse"), ("ghost", PASSWORD), ("", "")]
)
def test_authenticate_refuses_bad_credentials(engine: Engine, username: str, password: str) -> None:
    make(engine, "alice")
    assert auth.authenticate(engine, username=username, password=password) is None


def test_a_deactivated_operator_cannot_sign_in(engine: Engine) -> None:
    make(engine, "root", "admin")
    make(engine, "alice")
    auth.deactivate_operator_account(engine, username="alice", actor="root")
    assert auth.authenticate(engine, username="alice", password=PASSWORD) is None


def test_an_outdated_hash_is_upgraded_at_login(engine: Engine) -> None:
    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    make(engine, "alice")
    with session_scope(engine) as session:
        session.scalars(select(Operator)).one().password_hash = weak
    assert auth.authenticate(engine, username="alice", password=PASSWORD) is not None
    with session_scope(engine, read_only=True) as session:
        upgraded = session.scalars(select(Operator)).one().password_hash
    assert upgraded != weak and auth.verify_password(PASSWORD, upgraded)


# --- demo admin ------------------------------------------------------------------------------


def test_ensure_demo_admin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    login = auth.ensure_demo_admin(settings)
    assert login is not None and login[0] == "admin"
    path = settings.data_dir / auth.DEMO_ADMIN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert login[1] in path.read_text()
    assert auth.ensure_demo_admin(settings) == login  # printed again while it still works
    with auth.app_database(settings) as engine:
        assert auth.authenticate(engine, username="admin", password=login[1]) is not None
        auth.set_password(engine, username="admin", password="changed-it", actor="cli")
    assert auth.ensure_demo_admin(settings) is None  # the file no longer matches


def test_no_demo_admin_when_an_admin_exists(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with auth.app_database(settings) as engine:
        make(engine, "root", "admin")
    assert auth.ensure_demo_admin(settings) is None
    assert not (settings.data_dir / auth.DEMO_ADMIN_FILE).exists()


# --- sessions --------------------------------------------------------------------------------


def info(engine: Engine, username: str) -> auth.OperatorInfo:
    found = auth.find_operator_account(engine, username=username)
    assert found is not None
    return found


def test_session_round_trip_and_tampering() -> None:
    codec = auth.SessionCodec("k" * 32)
    value = codec.dumps({"op": 7, "csrf": "t"})
    assert codec.loads(value)["op"] == 7
    payload, signature = value.split(".")
    forged = auth.SessionCodec("k" * 32).dumps({"op": 8, "csrf": "t"}).split(".")[0]
    assert codec.loads(f"{forged}.{signature}") == {}
    assert codec.loads(f"{payload}.{signature[:-2]}xx") == {}
    assert auth.SessionCodec("other" * 8).loads(value) == {}
    for junk in (None, "", "abc", "a.b.c", "!!!.???"):
        assert codec.loads(junk) == {}


def test_sessions_expire() -> None:
    codec = auth.SessionCodec("k" * 32, max_age=3600)
    value = codec.dumps({"op": 1, "iat": 1_000_000})
    assert codec.loads(value, now=1_000_000 + 3599)["op"] == 1
    assert codec.loads(value, now=1_000_000 + 3601) == {}
    assert codec.loads(value, now=1_000_000 - 3600) == {}  # issued in the future


def test_a_session_ends_with_a_password_change_or_deactivation(engine: Engine) -> None:
    codec = auth.SessionCodec("k" * 32)
    make(engine, "root", "admin")
    make(engine, "alice")
    session = auth.login_session(codec, info(engine, "alice"))
    assert auth.session_operator(engine, codec, session) == info(engine, "alice")
    auth.set_password(engine, username="alice", password="new password", actor="root")
    assert auth.session_operator(engine, codec, session) is None
    session = auth.login_session(codec, info(engine, "alice"))
    auth.deactivate_operator_account(engine, username="alice", actor="root")
    assert auth.session_operator(engine, codec, session) is None
    assert auth.session_operator(engine, codec, {}) is None


def test_csrf_tokens() -> None:
    token = auth.new_csrf_token()
    assert len(token) >= 40 and token != auth.new_csrf_token()
    assert auth.csrf_matches(token, token)
    assert not auth.csrf_matches(token, token[:-1])
    assert not auth.csrf_matches(None, None)
    assert not auth.csrf_matches("", "")


def test_login_throttle() -> None:
    throttle = auth.LoginThrottle(limit=3, window=60)
    for moment in (0.0, 1.0, 2.0):
        assert not throttle.blocked("Alice", "1.2.3.4", now=moment)
        throttle.failed("alice", "1.2.3.4", now=moment)
    assert throttle.blocked("ALICE", "1.2.3.4", now=3.0)
    assert not throttle.blocked("alice", "5.6.7.8", now=3.0)  # another address
    assert not throttle.blocked("alice", "1.2.3.4", now=61.0)  # the window passed
    throttle.failed("bob", "1.2.3.4", now=0.0)
    throttle.succeeded("bob", "1.2.3.4")
    assert not throttle.blocked("bob", "1.2.3.4", now=0.5)
