"""Migrations: idempotent, reversible, and in agreement with the models on both backends."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
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


def _downgrade(db_url: str, revision: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def test_migrations_downgrade_to_nothing_and_back(db_url: str) -> None:
    upgrade(db_url)
    _downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert upgrade(db_url) == head_revision()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    numbered = sorted(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert numbered and head_revision() == numbered[-1]  # the newest numbered script is head


_TAG_ROW = sa.text(
    "INSERT INTO tags (code, name, description, category_id, value_type, kind, definition,"
    " schedule, is_active, builtin, created_at, updated_at)"
    " VALUES (:code, :code, :description, 1, 'enum', 'computed', '{}', 'daily', :yes, :yes,"
    " :now, :now)"
)


def _descriptions(db_url: str) -> dict[str, tuple[str | None, ...]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            columns = [c["name"] for c in sa.inspect(connection).get_columns("tags")]
            wanted = ", ".join(c for c in ("description", "description_en") if c in columns)
            rows = connection.execute(sa.text(f"SELECT code, {wanted} FROM tags ORDER BY code"))
            return {row[0]: tuple(row[1:]) for row in rows}
    finally:
        engine.dispose()


def test_0004_gives_builtin_tags_both_descriptions_and_keeps_operators_words(db_url: str) -> None:
    """Built-in tags seeded before 0004 were described in English only: the upgrade moves that
    text to `description_en` and writes the Chinese one, unless an operator changed it."""
    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO tag_categories (id, code, name, position, builtin, created_at)"
                    " VALUES (1, 'lifecycle', '生命周期', 0, :yes, :now)"
                ),
                {"yes": True, "now": now},
            )
            for code, description in [
                ("lifecycle_stage", "Introduction, growth, maturity, dormancy or churn."),
                ("intent_level", "我们自己的说明"),  # an operator's own words
                ("member_level_vip", "The user's level in the level scheme 'vip'."),
            ]:
                connection.execute(
                    _TAG_ROW, {"code": code, "description": description, "yes": True, "now": now}
                )
    finally:
        engine.dispose()
    before = _descriptions(db_url)
    assert upgrade(db_url) == head_revision()
    assert _descriptions(db_url) == {
        "intent_level": ("我们自己的说明", None),
        "lifecycle_stage": (
            "引入期、成长期、成熟期、休眠期或流失期。",
            "Introduction, growth, maturity, dormancy or churn.",
        ),
        "member_level_vip": (
            "用户在等级体系 'vip' 中的会员等级。",
            "The user's level in the level scheme 'vip'.",
        ),
    }
    _downgrade(db_url, "0003")
    assert _descriptions(db_url) == before
