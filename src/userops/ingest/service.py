"""The import service the CLI (and later the API) calls: open the stores, import, record the run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from userops.domain.contract import RecordKind
from userops.domain.imports import ImportSummary
from userops.ingest.pipeline import Progress, import_files, new_batch_id
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, warehouse_session


def import_paths(
    settings: Settings,
    kind: RecordKind,
    paths: Sequence[Path],
    *,
    mapping: dict[str, str] | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    settings.ensure_data_dir()
    batch = new_batch_id()
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        return import_files(
            wh,
            kind,
            list(paths),
            quarantine_dir=settings.data_dir / "quarantine",
            mapping=mapping,
            strict=strict,
            batch_id=batch,
            progress=progress,
        )
