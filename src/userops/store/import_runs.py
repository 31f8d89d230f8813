"""Import runs: one row per file import, opened before reading and closed with its counts.

A run is written in its own short transaction at start, so a crashed import stays visible as
`running` with its sources instead of leaving no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from userops.errors import InputError
from userops.store.models import IMPORT_KINDS, ImportRun
from userops.store.types import utcnow


def start_import_run(
    session: Session, *, kind: str, sources: Sequence[str], started_at: datetime | None = None
) -> ImportRun:
    """Open a run in the `running` state."""
    if kind not in IMPORT_KINDS:
        raise InputError(f"import kind {kind!r} is not one of {', '.join(IMPORT_KINDS)}")
    run = ImportRun(
        kind=kind,
        sources=[str(source) for source in sources],
        started_at=started_at or utcnow(),
        status="running",
        accepted=0,
        rejected=0,
        duplicates=0,
    )
    session.add(run)
    session.flush()
    return run


def finish_import_run(
    session: Session,
    *,
    run_id: int,
    accepted: int,
    rejected: int,
    duplicates: int,
    quarantine_path: str | None = None,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> ImportRun:
    """Close a running run: `failed` when an error is given, else `succeeded`."""
    if min(accepted, rejected, duplicates) < 0:
        raise InputError("import counts cannot be negative")
    run = session.get(ImportRun, run_id)
    if run is None:
        raise InputError(f"no import run with id {run_id}")
    if run.status != "running":
        raise InputError(f"import run {run_id} already finished ({run.status})")
    run.accepted, run.rejected, run.duplicates = accepted, rejected, duplicates
    run.quarantine_path = quarantine_path
    run.error = error
    run.status = "failed" if error else "succeeded"
    run.finished_at = finished_at or utcnow()
    session.flush()
    return run


def list_import_runs(
    session: Session, *, limit: int = 50, kind: str | None = None
) -> list[ImportRun]:
    """The latest runs, newest first."""
    statement = select(ImportRun).order_by(ImportRun.started_at.desc(), ImportRun.id.desc())
    if kind is not None:
        statement = statement.where(ImportRun.kind == kind)
    return list(session.scalars(statement.limit(limit)))
