"""Import runs: opened as running, closed once as succeeded or failed, listed newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from userops.errors import InputError
from userops.store.db import session_scope
from userops.store.import_runs import finish_import_run, list_import_runs, start_import_run

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def _start(engine: Engine, kind: str = "events", at: datetime = T0) -> int:
    with session_scope(engine) as session:
        return start_import_run(
            session, kind=kind, sources=["/in/a.csv", "/in/b.jsonl"], started_at=at
        ).id


def test_a_run_goes_from_running_to_succeeded(engine: Engine) -> None:
    run_id = _start(engine)
    with session_scope(engine, read_only=True) as session:
        [running] = list_import_runs(session)
    assert (running.status, running.finished_at, running.accepted) == ("running", None, 0)
    assert running.sources == ["/in/a.csv", "/in/b.jsonl"]
    with session_scope(engine) as session:
        finish_import_run(
            session,
            run_id=run_id,
            accepted=120,
            rejected=3,
            duplicates=7,
            quarantine_path="/data/quarantine/run-1.jsonl",
            finished_at=T0 + timedelta(seconds=42),
        )
    with session_scope(engine, read_only=True) as session:
        [done] = list_import_runs(session)
    assert (done.status, done.accepted, done.rejected, done.duplicates, done.error) == (
        "succeeded",
        120,
        3,
        7,
        None,
    )
    assert done.finished_at == T0 + timedelta(seconds=42)
    assert done.quarantine_path == "/data/quarantine/run-1.jsonl"


def test_a_run_with_an_error_failed_and_cannot_finish_again(engine: Engine) -> None:
    run_id = _start(engine)
    with session_scope(engine) as session:
        finish_import_run(
            session, run_id=run_id, accepted=0, rejected=0, duplicates=0, error="disk full"
        )
    with pytest.raises(InputError, match="already finished"), session_scope(engine) as session:
        finish_import_run(session, run_id=run_id, accepted=1, rejected=0, duplicates=0)
    with session_scope(engine, read_only=True) as session:
        [run] = list_import_runs(session)
    assert (run.status, run.error, run.accepted) == ("failed", "disk full", 0)


def test_listing_is_newest_first_and_filters_by_kind(engine: Engine) -> None:
    _start(engine, "events", T0)
    _start(engine, "users", T0 + timedelta(hours=1))
    _start(engine, "events", T0 + timedelta(hours=2))
    with session_scope(engine, read_only=True) as session:
        kinds = [run.kind for run in list_import_runs(session)]
        events = list_import_runs(session, kind="events", limit=1)
    assert kinds == ["events", "users", "events"]
    assert [run.started_at for run in events] == [T0 + timedelta(hours=2)]


def test_bad_inputs_are_refused(engine: Engine) -> None:
    with pytest.raises(InputError, match="not one of events, users, items, costs"):
        _start(engine, "orders")
    with pytest.raises(InputError, match="no import run with id 99"), session_scope(engine) as s:
        finish_import_run(s, run_id=99, accepted=0, rejected=0, duplicates=0)
    run_id = _start(engine)
    with pytest.raises(InputError, match="negative"), session_scope(engine) as session:
        finish_import_run(session, run_id=run_id, accepted=-1, rejected=0, duplicates=0)
