"""Bulk import of demo events from Parquet against DuckDB's bare `read_parquet` insert.

The baseline inserts the same file into a table of the same schema with plain SQL: no checks,
no dedup, no quarantine. userops does all of those and must reach at least 0.5x its speed.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path

import duckdb

from bench.common import Result, demo_events, timed_cpu
from userops.ingest.service import import_paths
from userops.settings import Settings
from userops.warehouse import schema

SIZES = (1_000_000, 10_000_000)


def _baseline(path: Path, workdir: Path) -> None:
    db = workdir / "baseline.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute(schema.duckdb_ddl(schema.EVENTS))
    con.execute(
        "INSERT INTO events SELECT message_id, type, event, user_id, anonymous_id, NULL, NULL, "
        "timestamp, now(), NULL, NULL, NULL, NULL, properties, context, 'baseline' "
        "FROM read_parquet(?)",
        [str(path)],
    )
    con.close()


def _ours(path: Path, workdir: Path) -> None:
    data = workdir / "ours"
    shutil.rmtree(data, ignore_errors=True)
    summary = import_paths(Settings(data_dir=data), "events", [path])
    assert summary.rejected == 0 and summary.accepted > 0, summary


def run(sizes: tuple[int, ...] = SIZES) -> list[Result]:
    results = []
    for rows in sizes:
        path = demo_events(rows)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            work = Path(tmp)
            baseline, baseline_cpu = timed_cpu(partial(_baseline, path, work), repeat=2)
            ours, ours_cpu = timed_cpu(partial(_ours, path, work), repeat=2)
        results.append(
            Result(
                name=f"import {rows / 1e6:g}M events (parquet)",
                ours_s=ours,
                baseline_s=baseline,
                baseline="DuckDB INSERT ... read_parquet",
                target=">=0.5x",
                units=rows,
                ours_cpu_s=ours_cpu,
                baseline_cpu_s=baseline_cpu,
            )
        )
    return results
