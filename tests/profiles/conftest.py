"""Fixtures of the tag tests: generated worlds in DuckDB warehouses, with their reference frames,
and an application database seeded with the built-in taxonomy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from tests.profiles import tag_data
from tests.profiles.reference import Frames
from userops.profiles import taxonomy
from userops.settings import Settings
from userops.store.db import make_engine
from userops.store.migrate import upgrade
from userops.warehouse.connection import Warehouse, open_warehouse


@dataclass
class TagWorld:
    raw: tag_data.Raw
    settings: Settings
    frames: Frames

    def open(self, *, read_only: bool = True) -> Warehouse:
        return open_warehouse(self.settings, read_only=read_only)


def make_world(folder: Path, seed: int, zone: str) -> TagWorld:
    raw = tag_data.generate(seed, ZoneInfo(zone))
    settings = tag_data.load(raw, folder)
    return TagWorld(raw, settings, tag_data.frames(raw))


@pytest.fixture(scope="module", params=["Asia/Shanghai", "America/Los_Angeles"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TagWorld:
    """A generated world, in the default zone and in one with daylight saving time."""
    zone: str = request.param
    return make_world(tmp_path_factory.mktemp("tags-" + zone.replace("/", "-")), 5, zone)


@pytest.fixture(scope="module")
def shanghai(tmp_path_factory: pytest.TempPathFactory) -> TagWorld:
    return make_world(tmp_path_factory.mktemp("tags-shanghai"), 11, "Asia/Shanghai")


def _seeded(url: str) -> Engine:
    upgrade(url)
    engine = make_engine(url)
    taxonomy.seed_builtins(engine)
    return engine


@pytest.fixture
def app_engine(db_url: str) -> Iterator[Engine]:
    """A migrated application database with the built-in taxonomy, on SQLite and PostgreSQL."""
    engine = _seeded(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """The same on SQLite only (for tests about the warehouse side)."""
    engine = _seeded(f"sqlite:///{tmp_path / 'app.db'}")
    yield engine
    engine.dispose()


@dataclass
class Refreshable:
    """A private, writable copy of a world's warehouse and a seeded application database."""

    world: TagWorld
    settings: Settings
    engine: Engine

    def warehouse(self) -> Warehouse:
        return open_warehouse(self.settings)


@pytest.fixture
def fresh(shanghai: TagWorld, sqlite_engine: Engine, tmp_path: Path) -> Refreshable:
    data = tmp_path / "data"
    shutil.copytree(shanghai.settings.data_dir, data)
    settings = Settings(
        data_dir=data,
        timezone=shanghai.settings.timezone,
        database_url=str(sqlite_engine.url),
    )
    return Refreshable(shanghai, settings, sqlite_engine)
