"""Alembic environment: runs the migrations on the connection `userops.store.migrate` hands over.

There is no alembic.ini: `migrate.alembic_config` builds the configuration in code, so migrations
run the same from a checkout and from an installed wheel. Batch mode is on for SQLite, whose
ALTER TABLE cannot change columns or constraints (Alembic copies the table instead).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from userops.store.db import make_engine
from userops.store.models import Base
from userops.store.types import UTCDateTime


def _render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    # Keep generated scripts free of application imports: a migration must not change meaning
    # when userops.store.types does.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection or sqlalchemy.url given to the migration environment")
    engine = make_engine(url)
    try:
        with engine.begin() as owned:
            _run(owned)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("userops migrations run online only: use userops.store.migrate.upgrade")
_run_online()
