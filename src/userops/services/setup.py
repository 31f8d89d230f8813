"""Bring both stores to the current schema; every step is idempotent."""

from __future__ import annotations

from typing import Any

from userops.profiles import tagvalues
from userops.profiles.taxonomy import seed_database
from userops.settings import Settings
from userops.store.migrate import upgrade
from userops.warehouse.connection import init_warehouse, warehouse_session


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def initialise(settings: Settings) -> dict[str, Any]:
    settings.ensure_data_dir()
    with warehouse_session(settings) as wh:
        version = init_warehouse(wh)
        if wh.engine == "duckdb":
            # Tag history tables, and schema 2's full snapshots turned into changes, now rather
            # than on the first write: a read-only open (a second console) sees the history.
            tagvalues.ensure_tables(wh)
        location = wh.location
    revision = upgrade(settings.resolved_database_url)
    return {
        "warehouse": location,
        "warehouse_version": version,
        "database": _redact(settings.resolved_database_url),
        "database_revision": revision,
        "builtin_tags": seed_database(settings.resolved_database_url),
    }
