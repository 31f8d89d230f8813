"""The audit log: who changed what, appended once and never rewritten.

This module offers no update or delete on purpose, and the model refuses either at flush time
(`models.AppendOnlyError`), so an audit entry can be trusted as it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from userops.domain.bounds import MAX_OFFSET
from userops.errors import InputError
from userops.store.models import AuditEntry
from userops.store.types import utcnow

ACTOR_CLI = "cli"
ACTOR_SYSTEM = "system"
MAX_PAGE = 1000


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Record one action in the caller's transaction, so it commits or vanishes with the change.

    `actor` is an operator's username, `cli` or `system`; `action` reads like `keys.create`.
    """
    if not actor.strip() or not action.strip():
        raise InputError("an audit entry needs an actor and an action")
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor.strip(),
        action=action.strip(),
        target=target,
        detail=dict(detail or {}),
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit(
    session: Session,
    *,
    limit: int = 100,
    offset: int = 0,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """A page of entries, newest first (ties on time broken by insertion order)."""
    if not 1 <= limit <= MAX_PAGE or not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"limit must be 1 to {MAX_PAGE} and offset 0 to {MAX_OFFSET:,}")
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list(session.scalars(statement.limit(limit).offset(offset)))
