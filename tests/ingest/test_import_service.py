"""The import service records every run in the application database, whatever ends it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from userops.ingest import loaders, pipeline
from userops.ingest.service import import_paths
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.import_runs import list_import_runs
from userops.warehouse.connection import open_warehouse

from .conftest import write


def runs(settings: Settings) -> list[tuple[str, int, int, str | None]]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(engine) as session:
            return [(r.status, r.accepted, r.rejected, r.error) for r in list_import_runs(session)]
    finally:
        engine.dispose()


def test_a_parquet_file_with_nan_is_imported_and_its_bad_row_quarantined(
    settings: Settings, tmp_path: Path
) -> None:
    pq.write_table(
        pa.table(
            {
                "message_id": ["n1", "n2"],
                "user_id": ["u", "u"],
                "event": ["buy", "buy"],
                "timestamp": ["2026-03-01T00:00:00Z"] * 2,
                "revenue": [1.5, float("nan")],
            }
        ),
        tmp_path / "nan.parquet",
    )
    summary = import_paths(settings, "events", [tmp_path / "nan.parquet"])
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert runs(settings) == [("succeeded", 1, 1, None)]
    quarantine = settings.data_dir / "quarantine"
    assert [p.suffix for p in quarantine.iterdir()] == [".jsonl"]


def _raise(exc: BaseException) -> Callable[..., object]:
    def fail(*_args: object, **_kwargs: object) -> object:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("where", "exc", "error"),
    [
        ("quarantine", RuntimeError("disk on fire"), "RuntimeError: disk on fire"),
        ("load", RuntimeError("disk on fire"), "RuntimeError: disk on fire"),
        ("load", KeyboardInterrupt(), "interrupted"),
    ],
)
def test_any_failure_closes_the_run_as_failed_and_leaves_no_part_file(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    exc: BaseException,
    error: str,
) -> None:
    f = write(
        tmp_path / "e.csv",
        "event,user_id,timestamp\nopen,u1,2026-11-01T10:00:00Z\nopen,u1,soon\n",
    )
    if where == "quarantine":  # fails while the quarantine file is being written
        monkeypatch.setattr(pipeline, "_raw_records", _raise(exc))
    else:  # fails inside the warehouse transaction, after the quarantine file was written
        monkeypatch.setitem(loaders.LOADERS, "events", _raise(exc))
    with pytest.raises(type(exc)):
        import_paths(settings, "events", [f])
    assert runs(settings) == [("failed", 0, 0, error)]
    assert list((settings.data_dir / "quarantine").glob("*")) == []
    wh = open_warehouse(settings)
    try:
        assert wh.sql("SELECT count(*) FROM events") == [(0,)]
    finally:
        wh.close()
