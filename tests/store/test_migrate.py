"""Migrations: idempotent, reversible, and in agreement with the models on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from userops.store.db import make_engine
from userops.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from userops.store.models import Base


def test_upgrade_is_safe_to_run_twice(db_url: str) -> None:
    assert current_revision(db_url) is None
    assert upgrade(db_url) == head_revision()
    assert upgrade(db_url) == head_revision()
    assert current_revision(db_url) == head_revision()


def test_models_and_migrations_agree(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrations_downgrade_to_nothing_and_back(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
    finally:
        engine.dispose()
    assert current_revision(db_url) is None
    assert upgrade(db_url) == head_revision()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    numbered = sorted(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert numbered and head_revision() == numbered[-1]  # the newest numbered script is head
