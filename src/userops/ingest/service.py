"""The import service the CLI (and later the API) calls: open the stores, import, record the run.

Each import is recorded in the application database (`import_runs`): started before the
warehouse is touched, finished with its counts or its error (any error: a bug or an interrupt
too), so only a killed import leaves a `running` row behind, as its trace instead of nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine

from userops.domain.contract import RecordKind
from userops.domain.imports import ImportSummary
from userops.errors import UseropsError
from userops.ingest.pipeline import Progress, import_files, new_batch_id
from userops.settings import Settings
from userops.store import import_runs
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
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
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(engine) as session:
            run_id = import_runs.start_import_run(
                session, kind=kind, sources=[str(p) for p in paths]
            ).id
        try:
            summary = _import(settings, kind, paths, mapping, strict, progress)
        except BaseException as exc:  # whatever stopped it, the run is closed as failed
            _record_failure(engine, run_id, exc)
            raise
        with session_scope(engine) as session:
            import_runs.finish_import_run(
                session,
                run_id=run_id,
                accepted=summary.accepted,
                rejected=summary.rejected,
                duplicates=summary.duplicates,
                quarantine_path=summary.quarantine,
            )
        return summary
    finally:
        engine.dispose()


def _record_failure(engine: Engine, run_id: int, exc: BaseException) -> None:
    """Close the run as failed with the error: the user's message for a `UseropsError`, the
    exception's type and text for anything else (a bug, an interrupt)."""
    if isinstance(exc, UseropsError):
        error = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        error = "interrupted"
    else:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        with session_scope(engine) as session:
            import_runs.finish_import_run(
                session, run_id=run_id, accepted=0, rejected=0, duplicates=0, error=error
            )
    except Exception:  # the import's own error is the one to raise, not this one
        return


def _import(
    settings: Settings,
    kind: RecordKind,
    paths: Sequence[Path],
    mapping: dict[str, str] | None,
    strict: bool,
    progress: Progress | None,
) -> ImportSummary:
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        return import_files(
            wh,
            kind,
            list(paths),
            quarantine_dir=settings.data_dir / "quarantine",
            mapping=mapping,
            strict=strict,
            batch_id=new_batch_id(),
            progress=progress,
        )
