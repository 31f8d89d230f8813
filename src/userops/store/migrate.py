"""Bring an application database to the schema of this version of userops (Alembic).

The Alembic configuration is built in code and points at the migrations inside the package, so
`userops init` works from an installed wheel with no alembic.ini. An upgrade runs in one
transaction that first takes a lock (an advisory lock on PostgreSQL, the write lock on SQLite),
so two processes starting at once migrate once and the second just finds the head.

Writing a new migration from a checkout: change `models.py`, then
`python -m userops.store.migrate revision "what changed"` autogenerates a script against a
scratch SQLite database at head; review and edit it before committing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from userops.errors import ConfigError
from userops.store.db import make_engine, normalise_url, session_scope

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x75_6F_6D_67  # "uomg": any constant shared by every userops process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of userops knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade(url: str, revision: str = "head") -> str:
    """Migrate the database at `url` to `revision` (idempotent) and return the revision it is at."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(connection), revision)
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()
    if current is None:
        raise RuntimeError(f"database {_masked(url)} has no revision after upgrade")
    return current


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            return MigrationContext.configure(session.connection()).get_current_revision()
    except OperationalError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()


def autogenerate_revision(message: str) -> None:
    """Write a new migration script from the difference between the models and head.

    Revisions are numbered 0001, 0002, ... so the files sort in the order they apply.
    """
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    number = max((int(head) for head in heads if head.isdigit()), default=0) + 1
    with tempfile.TemporaryDirectory(prefix="userops-revision-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'head.db'}"
        if heads:
            upgrade(url)
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                command.revision(
                    alembic_config(connection),
                    message=message,
                    autogenerate=True,
                    rev_id=f"{number:04d}",
                )
        finally:
            engine.dispose()


def _masked(url: str) -> str:
    return normalise_url(url).render_as_string(hide_password=True)


def _unreachable(url: str, exc: OperationalError) -> ConfigError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return ConfigError(f"cannot use the application database {_masked(url)}: {reason}")


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print('usage: python -m userops.store.migrate revision "message"', file=sys.stderr)
        return 2
    autogenerate_revision(argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
