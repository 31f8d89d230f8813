"""The audit log: append-only, newest first, paged."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from userops.store import audit
from userops.store.audit import append_audit, list_audit
from userops.store.db import session_scope
from userops.store.models import AppendOnlyError, AuditEntry

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_entries_keep_what_was_written(engine: Engine) -> None:
    with session_scope(engine) as session:
        append_audit(
            session,
            actor="alice",
            action="keys.create",
            target="api_key:1",
            detail={"name": "web", "prefix": "uok_aaaa", "nested": {"n": [1, 2]}},
            at=T0,
        )
    with session_scope(engine, read_only=True) as session:
        [entry] = list_audit(session)
    assert (entry.actor, entry.action, entry.target, entry.at) == (
        "alice",
        "keys.create",
        "api_key:1",
        T0,
    )
    assert entry.detail == {"name": "web", "prefix": "uok_aaaa", "nested": {"n": [1, 2]}}


def test_newest_first_with_ties_in_insertion_order_and_pages(engine: Engine) -> None:
    times = [T0 + timedelta(minutes=2), T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)]
    with session_scope(engine) as session:
        for index, at in enumerate(times):
            append_audit(session, actor="system", action=f"test.{index}", at=at)
    with session_scope(engine, read_only=True) as session:
        everything = [entry.action for entry in list_audit(session)]
        page = [entry.action for entry in list_audit(session, limit=2, offset=1)]
    assert everything == ["test.0", "test.3", "test.2", "test.1"]
    assert page == ["test.3", "test.2"]


def test_filters_by_actor_and_action(engine: Engine) -> None:
    with session_scope(engine) as session:
        append_audit(session, actor="cli", action="keys.create")
        append_audit(session, actor="alice", action="keys.revoke")
        append_audit(session, actor="alice", action="keys.create")
    with session_scope(engine, read_only=True) as session:
        assert len(list_audit(session, actor="alice")) == 2
        assert len(list_audit(session, actor="alice", action="keys.create")) == 1


def test_the_module_offers_no_way_to_change_an_entry() -> None:
    public = {name for name, _ in inspect.getmembers(audit, inspect.isfunction)}
    assert {name for name in public if not name.startswith("_") and audit.__name__ in name} == set()
    assert {"append_audit", "list_audit"} <= public
    writers = {"update", "delete", "remove", "edit", "set", "purge", "clear"}
    assert not [name for name in public if any(word in name for word in writers)]


def test_changing_or_deleting_an_entry_through_the_orm_is_refused(engine: Engine) -> None:
    with session_scope(engine) as session:
        entry_id = append_audit(session, actor="cli", action="keys.create", target="api_key:1").id
    with pytest.raises(AppendOnlyError), session_scope(engine) as session:
        session.get_one(AuditEntry, entry_id).target = "api_key:2"
    with pytest.raises(AppendOnlyError), session_scope(engine) as session:
        session.delete(session.get_one(AuditEntry, entry_id))
    with session_scope(engine, read_only=True) as session:
        assert [entry.target for entry in list_audit(session)] == ["api_key:1"]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_bad_pages_are_refused(engine: Engine, limit: int, offset: int) -> None:
    with pytest.raises(Exception, match="limit must be"), session_scope(engine) as session:
        list_audit(session, limit=limit, offset=offset)
