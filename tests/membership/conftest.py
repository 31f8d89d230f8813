"""Fixtures of the membership suite: a migrated, empty application database on each backend."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import Engine, func, select

from tests.fixtures.postgres import PostgresCluster
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import PointsAccount, PointsEntry, PointsLot

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 on Monday 2 March in Shanghai


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time costs a second)."""
    path = tmp_path_factory.mktemp("membership-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template(postgres_cluster: PostgresCluster) -> str:
    """A migrated PostgreSQL database that each test's database is created from."""
    name = f"membership_template_{uuid.uuid4().hex[:8]}"
    upgrade(postgres_cluster.create_database(name))
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make migrated, empty application databases (each call a new one) on the test's backend;
    they are dropped at the end of the test."""
    made: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex}"
        if request.param == "sqlite":
            path = tmp_path / f"{name}.db"
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
            return f"sqlite:///{path}"
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        template = request.getfixturevalue("_postgres_template")
        with cluster.admin_connection() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        made.append(name)
        return cluster.url(name)

    yield make
    if made:
        cluster = request.getfixturevalue("postgres_cluster")
        for name in made:
            cluster.drop_database(name)


@pytest.fixture
def migrated_url(new_database: Callable[[], str]) -> str:
    """A migrated, empty application database, once per backend."""
    return new_database()


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def ledger_state(engine: Engine, user_id: str) -> tuple[int, int, int]:
    """(cached balance, sum of the ledger, sum of what is left in the lots) of one user."""
    with session_scope(engine, read_only=True) as session:
        cached = session.scalar(
            select(PointsAccount.balance).where(PointsAccount.user_id == user_id)
        )
        ledger = session.scalar(
            select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(
                PointsEntry.user_id == user_id
            )
        )
        lots = session.scalar(
            select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                PointsLot.user_id == user_id
            )
        )
    return int(cached or 0), int(ledger or 0), int(lots or 0)


def assert_consistent(engine: Engine, user_id: str) -> int:
    cached, ledger, lots = ledger_state(engine, user_id)
    assert cached == ledger == lots >= 0, (cached, ledger, lots)
    with session_scope(engine, read_only=True) as session:
        for lot in session.scalars(select(PointsLot).where(PointsLot.user_id == user_id)):
            assert lot.amount == lot.remaining + lot.spent + lot.expired + lot.reversed
            assert min(lot.remaining, lot.spent, lot.expired, lot.reversed, lot.owed) >= 0
            assert lot.owed <= lot.spent
    return cached
