"""Opening the warehouse: an Ibis backend plus, on DuckDB, the raw connection for fast paths.

DuckDB is single-writer: one process at a time holds the file. docs/decisions/0001 says who
owns it (the server when it runs, else the CLI command) and `StoreBusyError` says so clearly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from userops.errors import ConfigError, StoreBusyError
from userops.settings import Settings
from userops.warehouse import schema

_LOCK_PID = re.compile(r"PID (\d+)")


class Warehouse:
    """The analytical store. Queries go through `ibis`; DuckDB writes may use `duckdb`."""

    def __init__(self, backend: BaseBackend, *, engine: str, timezone: str, location: str):
        self.ibis = backend
        self.engine = engine
        self.timezone = timezone
        self.location = location

    @property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        if self.engine != "duckdb":
            raise ConfigError(f"this operation needs the DuckDB warehouse, not {self.engine}")
        con: duckdb.DuckDBPyConnection = self.ibis.con
        return con

    def table(self, name: str) -> ir.Table:
        return self.ibis.table(name)

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run parameterized SQL on the DuckDB fast path and fetch all rows."""
        return self.duckdb.execute(query, params or []).fetchall()

    def close(self) -> None:
        self.ibis.disconnect()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duckdb_path(url: str) -> str:
    parsed = urlparse(url)
    path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
    return path or ":memory:"


def open_warehouse(settings: Settings, *, read_only: bool = False) -> Warehouse:
    url = settings.resolved_warehouse_url
    scheme = urlparse(url).scheme
    if scheme == "duckdb":
        path = _duckdb_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            backend = ibis.duckdb.connect(database=path, read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" in message.lower():
                pid = _LOCK_PID.search(message)
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise StoreBusyError(
                    f"the warehouse {path} is in use by another userops process{holder}; "
                    "stop it, or send the data through the running server"
                ) from exc
            raise ConfigError(f"cannot open the warehouse {path}: {message}") from exc
        tz = settings.timezone.replace("'", "''")
        backend.raw_sql(f"SET TimeZone = '{tz}'")
        return Warehouse(backend, engine="duckdb", timezone=settings.timezone, location=path)
    if scheme in {"clickhouse", "clickhouses"}:
        backend = ibis.connect(clickhouse_url(url))
        return Warehouse(backend, engine="clickhouse", timezone=settings.timezone, location=url)
    raise ConfigError(
        f"USEROPS_WAREHOUSE_URL scheme {scheme!r} is not supported (use duckdb:// or clickhouse://)"
    )


def clickhouse_url(url: str) -> str:
    """The URL Ibis's ClickHouse backend takes: `clickhouses://` (TLS) becomes
    `clickhouse://...?secure=True`, which Ibis passes on to clickhouse-connect."""
    if not url.startswith("clickhouses://"):
        return url
    rest = url[len("clickhouses://") :]
    return f"clickhouse://{rest}{'&' if '?' in rest else '?'}secure=True"


@contextmanager
def warehouse_session(settings: Settings, *, read_only: bool = False) -> Iterator[Warehouse]:
    wh = open_warehouse(settings, read_only=read_only)
    try:
        yield wh
    finally:
        wh.close()


def init_warehouse(wh: Warehouse) -> int:
    """Create missing tables and record the schema version; safe to run any number of times."""
    for table in schema.TABLES.values():
        ddl = schema.duckdb_ddl(table) if wh.engine == "duckdb" else schema.clickhouse_ddl(table)
        wh.ibis.raw_sql(ddl)
    if wh.engine == "duckdb":
        wh.sql(
            "INSERT INTO userops_meta VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(schema.SCHEMA_VERSION)],
        )
    return schema.SCHEMA_VERSION


def warehouse_version(wh: Warehouse) -> int | None:
    if "userops_meta" not in wh.ibis.list_tables():
        return None
    t = wh.table("userops_meta")
    rows = t.filter(t.key == "schema_version").select("value").to_pyarrow().to_pylist()
    return int(rows[0]["value"]) if rows else None
