"""One member as an operator sees them: points (balance, pending, lots with their expiry),
growth value, levels and level history, benefits, badges; and the operator's own points
actions (award, redeem, adjust), which also go to the audit log.

The points writes are `membership.points`' (idempotent by key, one transaction each); the
audit entry is written right after a write that was not a replay, in a transaction of its
own: the ledger entry itself already names the operator (`actor`), the reason and the key, so
a lost audit line loses no fact, only the second copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from userops.membership import badges, benefits, growth, levels, points
from userops.membership.levels import HistoryInfo, MemberLevelInfo
from userops.membership.points import DEFAULT_TZ, PointsResult, check_user
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import Benefit, BenefitUse, PointsEntry, PointsLot
from userops.store.types import utcnow


@dataclass(frozen=True, slots=True)
class LotInfo:
    """What is left of one credit, and when it matures and expires."""

    entry_id: int
    key: str
    earned_at: datetime
    amount: int
    remaining: int
    spent: int
    expired: int
    reversed: int
    matures_at: datetime
    expires_at: datetime | None
    reason: str | None
    rule_id: int | None

    def status(self, at: datetime) -> str:
        if self.remaining == 0:
            if self.spent == 0 and (self.expired or self.reversed):
                return "expired" if self.expired >= self.reversed else "reversed"
            return "used"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "pending" if self.matures_at > at else "available"


@dataclass(frozen=True, slots=True)
class BenefitUseInfo:
    benefit: str
    name: str
    used_at: datetime
    quantity: int
    reference: str | None
    actor: str


@dataclass(frozen=True, slots=True)
class MemberSummary:
    user_id: str
    at: datetime
    balance: points.Balance
    lots: tuple[LotInfo, ...]
    growth_lifetime: int
    levels: tuple[MemberLevelInfo, ...]
    history: tuple[HistoryInfo, ...]
    entitlements: tuple[benefits.EntitlementInfo, ...]
    benefit_uses: tuple[BenefitUseInfo, ...]
    badges: tuple[dict[str, Any], ...]
    entries: int  # ledger entries in all

    @property
    def known(self) -> bool:
        """Whether the member has anything at all in the growth system."""
        return bool(
            self.entries or self.growth_lifetime or self.history or self.badges or self.lots
        ) or any(m.level is not None for m in self.levels)


def _lots(session: Session, user_id: str, limit: int) -> list[LotInfo]:
    rows = session.execute(
        select(PointsLot, PointsEntry)
        .join(PointsEntry, PointsEntry.id == PointsLot.entry_id)
        .where(PointsLot.user_id == user_id)
        .order_by(PointsLot.remaining == 0, PointsLot.expires_at.is_(None), PointsLot.expires_at)
        .order_by(PointsLot.entry_id.desc())
        .limit(limit)
    )
    return [
        LotInfo(
            entry_id=lot.entry_id,
            key=entry.idempotency_key,
            earned_at=entry.effective_at,
            amount=lot.amount,
            remaining=lot.remaining,
            spent=lot.spent,
            expired=lot.expired,
            reversed=lot.reversed,
            matures_at=lot.matures_at,
            expires_at=lot.expires_at,
            reason=entry.reason,
            rule_id=entry.rule_id,
        )
        for lot, entry in rows
    ]


def _benefit_uses(session: Session, user_id: str, limit: int) -> list[BenefitUseInfo]:
    rows = session.execute(
        select(BenefitUse, Benefit)
        .join(Benefit, Benefit.id == BenefitUse.benefit_id)
        .where(BenefitUse.user_id == user_id)
        .order_by(BenefitUse.used_at.desc(), BenefitUse.id.desc())
        .limit(limit)
    )
    return [
        BenefitUseInfo(b.code, b.name, u.used_at, u.quantity, u.reference, u.actor) for u, b in rows
    ]


def summary(
    engine: Engine,
    *,
    user_id: str,
    at: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
    lots: int = 50,
    uses: int = 20,
) -> MemberSummary:
    """Everything the member page shows but the ledger itself (`points.statement` pages it)."""
    user = check_user(user_id)
    when = at or utcnow()
    with session_scope(engine, read_only=True) as session:
        balance = points.balance_in(session, user, when)
        found_lots = _lots(session, user, lots)
        lifetime = growth.lifetime(session, user)
        uses_found = _benefit_uses(session, user, uses)
        entries = int(
            session.scalar(
                select(func.count()).select_from(PointsEntry).where(PointsEntry.user_id == user)
            )
            or 0
        )
    schemes = levels.list_schemes(engine)
    return MemberSummary(
        user_id=user,
        at=when,
        balance=balance,
        lots=tuple(found_lots),
        growth_lifetime=lifetime,
        levels=tuple(levels.member_level(engine, scheme=s.code, user_id=user) for s in schemes),
        history=tuple(reversed(levels.history(engine, user_id=user))),
        entitlements=tuple(benefits.entitlements(engine, user_id=user, at=when, tz=tz)),
        benefit_uses=tuple(uses_found),
        badges=tuple(badges.user_badges(engine, user_id=user)),
        entries=entries,
    )


# An operator's points actions ---------------------------------------------------------------


def _audited(
    engine: Engine, result: PointsResult, *, action: str, actor: str, **detail: Any
) -> None:
    if result.replayed:
        return
    with session_scope(engine) as session:
        append_audit(
            session,
            actor=actor,
            action=action,
            target=result.balance.user_id,
            detail={**detail, "entries": [e.id for e in result.entries]},
        )


def award(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    actor: str,
    reason: str | None = None,
    expiry: str = "never",
    maturity_days: int = 0,
    tz: tzinfo = DEFAULT_TZ,
) -> PointsResult:
    result = points.award(
        engine,
        user_id=user_id,
        amount=amount,
        key=key,
        reason=reason,
        expiry=expiry,
        maturity_days=maturity_days,
        actor=actor,
        tz=tz,
    )
    _audited(
        engine,
        result,
        action="points.award",
        actor=actor,
        amount=amount,
        key=key,
        reason=reason,
        expiry=expiry,
    )
    return result


def redeem(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    actor: str,
    reference: str | None = None,
    reason: str | None = None,
) -> PointsResult:
    result = points.redeem(
        engine,
        user_id=user_id,
        amount=amount,
        key=key,
        reference=reference,
        reason=reason,
        actor=actor,
    )
    _audited(
        engine,
        result,
        action="points.redeem",
        actor=actor,
        amount=amount,
        key=key,
        reference=reference,
        reason=reason,
    )
    return result


def adjust(
    engine: Engine,
    *,
    user_id: str,
    amount: int,
    key: str,
    reason: str,
    actor: str,
    tz: tzinfo = DEFAULT_TZ,
) -> PointsResult:
    result = points.adjust(
        engine, user_id=user_id, amount=amount, key=key, reason=reason, actor=actor, tz=tz
    )
    _audited(
        engine, result, action="points.adjust", actor=actor, amount=amount, key=key, reason=reason
    )
    return result
