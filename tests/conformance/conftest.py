"""One data set, two engines: a DuckDB warehouse filled by the normal import, and the same rows
in ClickHouse (chDB), tables created by `schema.clickhouse_ddl` and rows copied through Parquet.

`engines` is parametrized over two data sets: `hard` (tests/conformance/datasets.py: midnights,
ties, duplicates, anonymous events merged at login) and `demo` (the demo generator: channels,
traits, properties, purchases with revenue).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from chdb import session as chs

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.datasets import END, START, hard_events, load_duckdb
from userops.services.demo import load_demo
from userops.settings import Settings
from userops.warehouse import schema
from userops.warehouse.connection import Warehouse, open_warehouse

DEMO_END = date(2026, 11, 20)
DEMO_DAYS = 40


@dataclass(frozen=True)
class Engines:
    """The same rows in both engines, and the range of days metrics are asked about."""

    dataset: str
    start: date
    end: date
    duckdb: Warehouse
    clickhouse: Warehouse


def _fill(dataset: str, folder: Path) -> tuple[Settings, date, date]:
    if dataset == "hard":
        return load_duckdb(hard_events(7), folder), START, END
    settings = Settings(data_dir=folder / "data", timezone="Asia/Shanghai")
    load_demo(settings, users=300, days=DEMO_DAYS, seed=3, end=DEMO_END)
    return settings, DEMO_END - timedelta(days=27), DEMO_END - timedelta(days=7)


def copy_to_chdb(duck: Warehouse, session: object, database: str, folder: Path) -> None:
    """Create every table with its ClickHouse DDL and copy the rows over as Parquet files."""
    query = session.query  # type: ignore[attr-defined]
    query(f"CREATE DATABASE {database}")
    for table in schema.TABLES.values():
        ddl = schema.clickhouse_ddl(table)
        query(ddl.replace("TABLE IF NOT EXISTS ", f"TABLE IF NOT EXISTS {database}.", 1))
        path = folder / f"{table.name}.parquet"
        columns = ", ".join(schema.quote_ident(c) for c in table.column_names)
        duck.duckdb.execute(
            f"COPY (SELECT {columns} FROM {schema.quote_ident(table.name)}) TO '{path}' "
            "(FORMAT parquet)"
        )
        query(
            f"INSERT INTO {database}.{schema.quote_ident(table.name)} ({columns}) "
            f"SELECT {columns} FROM file('{path}', Parquet)"
        )


@pytest.fixture(scope="module", params=["hard", "demo"])
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engines]:
    dataset: str = request.param
    folder = tmp_path_factory.mktemp(f"conformance-{dataset}")
    settings, start, end = _fill(dataset, folder)
    session = chs.Session()
    try:
        with open_warehouse(settings, read_only=True) as duck:
            database = f"uo_{dataset}"
            copy_to_chdb(duck, session, database, folder)
            clickhouse = Warehouse(
                ChdbBackend(session, database),
                engine="clickhouse",
                timezone=settings.timezone,
                location=f"chdb:{database}",
            )
            yield Engines(dataset, start, end, duck, clickhouse)
            session.query(f"DROP DATABASE {database}")
    finally:
        session.close()
