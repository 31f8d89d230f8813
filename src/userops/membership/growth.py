"""Growth value (成长值): an append-only ledger per user, summed over a scheme's window.

Growth value is earned by behaviour (the incentive rules) and by operators' adjustments; it is
never spent. A reversal (an order returned) is dated at what it reverses, so the growth of "the
last 12 months" loses the order in the window the order counted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.domain.membership.periods import local_midnight
from userops.errors import InputError
from userops.membership.ledger import KeyConflict, chunks, insert_for, table_of
from userops.store.db import session_scope
from userops.store.models import GrowthEntry
from userops.store.types import utcnow


@dataclass(frozen=True, slots=True)
class GrowthRow:
    """One growth value entry to write."""

    user_id: str
    amount: int
    key: str
    effective_at: datetime
    kind: str = "earn"
    rule_id: int | None = None
    reference: str | None = None
    reverses_id: int | None = None
    actor: str = "system"
    reason: str | None = None


def post(session: Session, rows: Sequence[GrowthRow]) -> None:
    """Append growth entries (set-based); a key already stored is skipped, not doubled."""
    if not rows:
        return
    now = utcnow()
    values = [
        {
            "user_id": r.user_id,
            "kind": r.kind,
            "amount": r.amount,
            "idempotency_key": r.key,
            "effective_at": r.effective_at,
            "recorded_at": now,
            "reference": r.reference,
            "rule_id": r.rule_id,
            "reverses_id": r.reverses_id,
            "actor": r.actor,
            "reason": r.reason,
        }
        for r in rows
    ]
    statement = insert_for(session, table_of(GrowthEntry)).on_conflict_do_nothing()
    session.execute(statement, values)


def totals(
    session: Session,
    *,
    first_day: date | None,
    last_day: date,
    tz: tzinfo,
    user_ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Growth value per user earned on local days first_day..last_day (None: since ever)."""
    end = local_midnight(last_day + timedelta(days=1), tz)
    statement = (
        select(GrowthEntry.user_id, func.sum(GrowthEntry.amount))
        .where(GrowthEntry.effective_at < end)
        .group_by(GrowthEntry.user_id)
    )
    if first_day is not None:
        statement = statement.where(GrowthEntry.effective_at >= local_midnight(first_day, tz))
    found: dict[str, int] = {}
    if user_ids is None:
        found.update((u, int(t or 0)) for u, t in session.execute(statement))
        return found
    for part in chunks(list(user_ids)):
        rows = session.execute(statement.where(GrowthEntry.user_id.in_(part)))
        found.update((u, int(t or 0)) for u, t in rows)
    return found


def users_with_growth(session: Session) -> list[str]:
    return list(session.scalars(select(GrowthEntry.user_id).distinct()))


def reverse_reference(session: Session, *, user_id: str, reference: str, key: str) -> int:
    """Reverse the growth value an order earned (what is not reversed yet); the amount."""
    earned = list(
        session.scalars(
            select(GrowthEntry).where(
                GrowthEntry.user_id == user_id,
                GrowthEntry.reference == reference,
                GrowthEntry.kind == "earn",
            )
        )
    )
    if not earned:
        return 0
    reversed_ids = set(
        session.scalars(
            select(GrowthEntry.reverses_id).where(
                GrowthEntry.reverses_id.in_([e.id for e in earned])
            )
        )
    )
    rows = [
        GrowthRow(
            user_id=user_id,
            amount=-entry.amount,
            key=f"{key}/growth/{entry.id}",
            effective_at=entry.effective_at,
            kind="reverse",
            rule_id=entry.rule_id,
            reference=reference,
            reverses_id=entry.id,
            reason=f"order {reference} reversed",
        )
        for entry in earned
        if entry.id not in reversed_ids and entry.amount
    ]
    post(session, rows)
    return -sum(r.amount for r in rows)


def reversed_by(session: Session, key: str) -> int:
    """Growth value taken back by the order reversal with idempotency key `key`."""
    prefix = f"{key}/growth/"
    total = session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.amount), 0)).where(
            GrowthEntry.idempotency_key.startswith(prefix, autoescape=True)
        )
    )
    return -int(total or 0)


def adjust(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    reason: str,
    actor: str,
    at: datetime | None = None,
) -> int:
    """An operator's correction of growth value; returns the user's lifetime total after it."""
    if not amount or not reason.strip() or not key.strip():
        raise InputError("a growth adjustment needs a non-zero amount, a reason and a key")
    try:
        with session_scope(engine) as session:
            existing = session.scalars(
                select(GrowthEntry).where(GrowthEntry.idempotency_key == key)
            ).one_or_none()
            if existing is not None and (existing.user_id != user_id or existing.amount != amount):
                raise KeyConflict(f"idempotency key {key!r} was already used for another change")
            if existing is None:
                row = GrowthRow(
                    user_id, amount, key, at or utcnow(), kind="adjust", actor=actor, reason=reason
                )
                post(session, [row])
            return lifetime(session, user_id)
    except IntegrityError as exc:
        raise KeyConflict(f"idempotency key {key!r} is being used concurrently") from exc


def lifetime(session: Session, user_id: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.amount), 0)).where(GrowthEntry.user_id == user_id)
    )
    return int(total or 0)


def history(engine: Engine, *, user_id: str, limit: int = 100) -> list[dict[str, Any]]:
    with session_scope(engine, read_only=True) as session:
        rows = session.scalars(
            select(GrowthEntry)
            .where(GrowthEntry.user_id == user_id)
            .order_by(GrowthEntry.id.desc())
            .limit(limit)
        )
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "amount": r.amount,
                "key": r.idempotency_key,
                "effective_at": r.effective_at.isoformat(),
                "reference": r.reference,
                "rule_id": r.rule_id,
                "reason": r.reason,
            }
            for r in rows
        ]
