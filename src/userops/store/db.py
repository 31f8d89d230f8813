"""Engines and transactions for the application database.

SQLite is the embedded default and must take writes from several processes at once (the server,
a CLI import, a scheduled job), so every connection runs in WAL mode with a busy timeout, and a
write transaction starts with `BEGIN IMMEDIATE`: it takes the write lock up front, where the
busy timeout can wait for it, instead of failing with "database is locked" when a read inside
the transaction later turns into a write. PostgreSQL is reached through psycopg 3.

Services own transactions: they open one `session_scope` per unit of work; repositories only
add, query and flush.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from userops.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another process's write lock before giving up."""

_READ_ONLY = "userops_read_only"
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}


def normalise_url(url: str) -> URL:
    """Parse a database URL, pinning PostgreSQL to the psycopg 3 driver.

    Operators paste `postgresql://` (or Heroku-style `postgres://`) URLs; SQLAlchemy would pick
    psycopg2 for those, which userops does not install.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} is not a valid SQLAlchemy URL") from exc
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed
    raise ConfigError(
        f"database URL {parsed.render_as_string(hide_password=True)!r} is not supported: "
        "use sqlite:///<path> or postgresql://user:password@host/database"
    )


def make_engine(url: str) -> Engine:
    """An engine configured for userops' concurrency rules on SQLite or PostgreSQL."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see `_begin_sqlite_transaction`): the sqlite3 module's
    # own implicit transactions skip DDL and SAVEPOINT semantics.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal_mode(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enter_wal_mode(cursor: Any) -> None:
    """Switch the database file to WAL (persistent: later connections find it already set).

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once, without
    the busy handler, when several processes open a fresh database together; so retry here until
    the busy timeout is spent.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _begin_sqlite_transaction(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit when the block succeeds, roll back when it raises.

    `read_only=True` is for pages and listings: on SQLite it does not queue behind writers for
    the write lock, on PostgreSQL the transaction is READ ONLY. Objects stay usable after the
    block (no expiry on commit) so a service can return what it loaded.
    """
    bind = engine
    if read_only:
        options: dict[str, Any] = {_READ_ONLY: True}
        if engine.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
        bind = engine.execution_options(**options)
    with Session(bind=bind, expire_on_commit=False) as session, session.begin():
        yield session
