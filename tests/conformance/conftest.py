"""One data set, two engines: a DuckDB warehouse filled by the normal import, and the same rows
in ClickHouse (chDB), tables created by `schema.clickhouse_ddl` and rows copied through Parquet.

Two data sets, each built at most once per test process (`warehouses`) and shared by every
module of the suite:

- `hard` (tests/conformance/datasets.py), in Asia/Shanghai: midnights, ties, duplicates,
  anonymous events merged at login, users without a `users` row; no revenue, no costs.
- `demo` (the demo generator), in America/Los_Angeles, whose daylight saving ends on
  2026-11-01, inside the range: channels, traits and custom traits, properties, purchases with
  revenue, and channel costs for two of its channels (the others have none).

Both also hold tag values and a static segment's members (test_segments.py reads them). The
`engines` fixture runs a test on each; a test that picks its own data set per case calls
`warehouses(name)`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from chdb import session as chs

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.datasets import END, START, hard_events, load_duckdb
from userops.analytics.costs import import_costs_file
from userops.services.demo import load_demo
from userops.settings import Settings
from userops.warehouse import schema
from userops.warehouse.connection import Warehouse, open_warehouse

DATASETS = ("hard", "demo")
DEMO_END = date(2026, 11, 20)
DEMO_DAYS = 40
DEMO_ZONE = "America/Los_Angeles"
COSTS = {"paid_search": 310, "feed_ads": 125}  # yuan a day; other channels have no cost


@dataclass(frozen=True)
class Engines:
    """The same rows in both engines, and the range of days metrics are asked about."""

    dataset: str
    start: date
    end: date
    duckdb: Warehouse
    clickhouse: Warehouse


def _costs(folder: Path, first: date, last: date) -> Path:
    path = folder / "costs.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["date", "channel", "amount"])
        day = first
        while day <= last:
            for channel, amount in COSTS.items():
                writer.writerow([day.isoformat(), channel, f"{amount + day.day % 7}.35"])
            day += timedelta(days=1)
    return path


def _fill(dataset: str, folder: Path) -> tuple[Settings, date, date]:
    if dataset == "hard":
        settings, start, end = load_duckdb(hard_events(7), folder), START, END
    else:
        settings = Settings(data_dir=folder / "data", timezone=DEMO_ZONE)
        load_demo(settings, users=300, days=DEMO_DAYS, seed=3, end=DEMO_END)
        start, end = DEMO_END - timedelta(days=27), DEMO_END - timedelta(days=7)
        import_costs_file(settings, _costs(folder, DEMO_END - timedelta(days=DEMO_DAYS), DEMO_END))
    with open_warehouse(settings) as wh:  # tags and a segment, for test_segments.py
        wh.sql(
            "INSERT INTO tag_values SELECT 'score', user_id, CAST(hash(user_id) % 100 AS VARCHAR), "
            "CAST(hash(user_id) % 100 AS DOUBLE), now() FROM users"
        )
        wh.sql(
            "INSERT INTO tag_values SELECT 'rfm', user_id, "
            "CASE hash(user_id) % 3 WHEN 0 THEN '重要价值' WHEN 1 THEN 'it''s' ELSE '一般' END, "
            "NULL, now() FROM users WHERE hash(user_id) % 5 <> 0"
        )
        wh.sql(
            "INSERT INTO segment_members SELECT 'half', user_id, now() FROM users "
            "WHERE hash(user_id) % 2 = 0"
        )
    return settings, start, end


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


@pytest.fixture(scope="session")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Engines]]:
    """`warehouses(name)`: the data set's two engines, built on first use, kept to the end."""
    built: dict[str, Engines] = {}
    session = chs.Session()

    def get(dataset: str) -> Engines:
        if dataset not in built:
            folder = tmp_path_factory.mktemp(f"conformance-{dataset}")
            settings, start, end = _fill(dataset, folder)
            duck = open_warehouse(settings, read_only=True)
            database = f"uo_{dataset}"
            copy_to_chdb(duck, session, database, folder)
            clickhouse = Warehouse(
                ChdbBackend(session, database),
                engine="clickhouse",
                timezone=settings.timezone,
                location=f"chdb:{database}",
            )
            built[dataset] = Engines(dataset, start, end, duck, clickhouse)
        return built[dataset]

    try:
        yield get
    finally:
        for dataset, engines in built.items():
            engines.duckdb.close()
            session.query(f"DROP DATABASE IF EXISTS uo_{dataset}")  # chDB sessions share them
        session.close()


def on_dataset(dataset: str, *values: object, xfail: str | None = None) -> object:
    """A parameter of a case run on `dataset`: grouped with the data set's other cases, so
    `--dist loadgroup` (make test) builds each data set in one worker only; with `xfail`, a
    strict expected failure giving that reason."""
    marks = [pytest.mark.xdist_group(f"conformance-{dataset}")]
    if xfail is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=xfail))
    return pytest.param(dataset, *values, marks=marks)


@pytest.fixture(params=[on_dataset(d) for d in DATASETS])
def engines(request: pytest.FixtureRequest, warehouses: Callable[[str], Engines]) -> Engines:
    return warehouses(request.param)
