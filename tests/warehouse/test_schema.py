"""The tables are defined once and must create cleanly on DuckDB and on ClickHouse (via chDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from userops.errors import ConfigError, StoreBusyError
from userops.settings import Settings
from userops.warehouse import schema
from userops.warehouse.connection import (
    init_warehouse,
    open_warehouse,
    warehouse_version,
)


def test_init_is_idempotent_and_versioned(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with open_warehouse(settings) as wh:
        assert warehouse_version(wh) is None
        assert init_warehouse(wh) == schema.SCHEMA_VERSION
        wh.sql("INSERT INTO users (user_id, updated_at) VALUES ('u1', now())")
        assert init_warehouse(wh) == schema.SCHEMA_VERSION
        assert warehouse_version(wh) == schema.SCHEMA_VERSION
        assert wh.sql("SELECT count(*) FROM users") == [(1,)]
        for table in schema.TABLES.values():
            assert tuple(wh.table(table.name).columns) == table.column_names
            assert wh.table(table.name).schema() == schema.ibis_schema(table)


def test_clickhouse_ddl_creates_every_table_in_chdb() -> None:
    chdb = pytest.importorskip("chdb")
    from chdb import session as chs

    sess = chs.Session()
    try:
        sess.query("CREATE DATABASE IF NOT EXISTS uo")
        for table in schema.TABLES.values():
            sess.query(
                schema.clickhouse_ddl(table).replace(
                    "TABLE IF NOT EXISTS ", "TABLE IF NOT EXISTS uo.", 1
                )
            )
        described = sess.query(
            "SELECT name, type FROM system.columns WHERE database = 'uo' "
            "AND table = 'events' ORDER BY position",
            "CSV",
        ).data()
    finally:
        sess.close()
    assert '"timestamp","DateTime64(6, \'UTC\')"' in described
    assert '"revenue","Nullable(Decimal(18, 2))"' in described
    assert chdb is not None


def test_second_writer_gets_a_clear_busy_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(30)",
            str(tmp_path / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError, match=r"in use by another userops process \(PID \d+\)"):
            open_warehouse(Settings(data_dir=tmp_path))
    finally:
        holder.kill()
        holder.wait()


def test_unknown_warehouse_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scheme 'mysql' is not supported"):
        open_warehouse(Settings(data_dir=tmp_path, warehouse_url="mysql://x/y"))
