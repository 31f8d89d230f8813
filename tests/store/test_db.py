"""Engines, URLs, transactions and UTC times behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from userops.errors import ConfigError
from userops.store.audit import append_audit, list_audit
from userops.store.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, normalise_url, session_scope
from userops.store.migrate import upgrade
from userops.store.models import ApiKey, AuditEntry, ImportRun


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:secret@db.example/userops", "postgresql+psycopg"),
        ("postgres://u:secret@db.example/userops", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/userops", "postgresql+psycopg"),
        ("sqlite:///relative.db", "sqlite"),
        ("sqlite+pysqlite:////abs/userops.db", "sqlite+pysqlite"),
    ],
)
def test_urls_are_pinned_to_supported_drivers(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "not a url"])
def test_unsupported_urls_are_a_config_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as error:
        normalise_url(url)
    assert "secret" not in str(error.value)


def test_sqlite_creates_its_folder_and_allows_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "userops.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert path.exists()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    }


def test_session_scope_commits_on_success(engine: Engine) -> None:
    with session_scope(engine) as session:
        append_audit(session, actor="cli", action="test.commit")
    with session_scope(engine, read_only=True) as session:
        assert [entry.action for entry in list_audit(session)] == ["test.commit"]


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        append_audit(session, actor="cli", action="test.rollback")
        raise RuntimeError("the service failed half-way")
    with session_scope(engine, read_only=True) as session:
        assert list_audit(session) == []


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    key = ApiKey(name="orphan", prefix="uok_0000", key_hash="0" * 64, created_by=4242)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(key)


def test_read_only_scope_reads(engine: Engine) -> None:
    with session_scope(engine, read_only=True) as session:
        assert session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.postgres
def test_read_only_scope_refuses_writes_on_postgresql(fresh_postgres_url: str) -> None:
    upgrade(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    try:
        with (
            pytest.raises(DBAPIError, match="read-only"),
            session_scope(engine, read_only=True) as session,
        ):
            append_audit(session, actor="cli", action="test.read_only")
    finally:
        engine.dispose()


def test_times_come_back_as_the_same_aware_utc_instant(engine: Engine) -> None:
    shanghai = timezone(timedelta(hours=8))
    started = datetime(2024, 3, 1, 0, 30, 15, 123456, tzinfo=shanghai)
    with session_scope(engine) as session:
        session.add(ImportRun(kind="events", started_at=started, sources=["a.csv"]))
    with session_scope(engine, read_only=True) as session:
        stored = session.scalars(select(ImportRun.started_at)).one()
    assert stored == started
    assert stored.tzinfo is UTC
    assert stored.isoformat() == "2024-02-29T16:30:15.123456+00:00"


def test_times_compare_as_instants_in_queries(engine: Engine) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        for hours in (1, 2, 3):
            at = base + timedelta(hours=hours)
            append_audit(session, actor="cli", action=f"test.{hours}", at=at)
    later_than = datetime(2024, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # 01:30 UTC
    statement = (
        select(AuditEntry.action).where(AuditEntry.at > later_than).order_by(AuditEntry.at.desc())
    )
    with session_scope(engine, read_only=True) as session:
        assert list(session.scalars(statement)) == ["test.3", "test.2"]


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        append_audit(session, actor="cli", action="test.naive", at=datetime(2024, 1, 1))
