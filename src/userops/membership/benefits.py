"""Benefits (权益): the catalogue, what each level grants, what a user is entitled to now, and
the use of benefits with a quota (free shipping twice a month, one birthday gift a year).

A use is one append-only row with an idempotency key; the quota check and the write happen with
the user's account row locked (the same lock as their points), so two concurrent uses cannot
both take the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.domain.membership import benefits as rules
from userops.domain.membership.periods import local_day, local_midnight
from userops.errors import InputError
from userops.membership import ledger
from userops.membership.ledger import KeyConflict
from userops.membership.points import DEFAULT_TZ, check_key, check_user
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import (
    Benefit,
    BenefitUse,
    Level,
    LevelBenefit,
    LevelScheme,
    MemberLevel,
)
from userops.store.types import utcnow


@dataclass(frozen=True, slots=True)
class BenefitInfo:
    id: int
    code: str
    name: str
    kind: str
    description: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
        }


def _info(row: Benefit) -> BenefitInfo:
    return BenefitInfo(row.id, row.code, row.name, row.kind, row.description)


def create_benefit(
    engine: Engine,
    *,
    code: str,
    name: str,
    kind: str,
    description: str | None = None,
    actor: str = "system",
) -> BenefitInfo:
    """Add a benefit to the catalogue (see `domain.membership.benefits` for the kinds)."""
    code = code.strip()
    if not code or len(code) > 64:
        raise InputError("a benefit needs a code of 1 to 64 characters")
    if kind not in rules.BENEFIT_KINDS:
        raise InputError(f"benefit kind {kind!r} is not one of {', '.join(rules.BENEFIT_KINDS)}")
    with session_scope(engine) as session:
        if session.scalars(select(Benefit).where(Benefit.code == code)).first():
            raise InputError(f"a benefit {code!r} already exists")
        row = Benefit(code=code, name=name.strip() or code, kind=kind, description=description)
        session.add(row)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="benefits.create",
            target=code,
            detail={"kind": kind, "name": row.name},
        )
        return _info(row)


def list_benefits(engine: Engine) -> list[BenefitInfo]:
    with session_scope(engine, read_only=True) as session:
        return [_info(r) for r in session.scalars(select(Benefit).order_by(Benefit.code))]


def _level(session: Session, scheme: str, level: str) -> Level:
    row = session.scalars(
        select(Level)
        .join(LevelScheme, LevelScheme.id == Level.scheme_id)
        .where(LevelScheme.code == scheme, Level.code == level)
    ).one_or_none()
    if row is None:
        raise InputError(f"scheme {scheme!r} has no level {level!r}")
    return row


def _benefit(session: Session, code: str) -> Benefit:
    row = session.scalars(select(Benefit).where(Benefit.code == code)).one_or_none()
    if row is None:
        raise InputError(f"no benefit {code!r} in the catalogue")
    return row


def grant_benefit(
    engine: Engine,
    *,
    scheme: str,
    level: str,
    benefit: str,
    value: int = 0,
    quota: int | None = None,
    period: rules.QuotaPeriod | None = None,
    actor: str = "system",
) -> rules.Grant:
    """Let a level grant a benefit (or change how): a value, and a quota per period."""
    with session_scope(engine) as session:
        target, item = _level(session, scheme, level), _benefit(session, benefit)
        rules.check_grant_numbers(item.code, value, quota)
        grant = rules.Grant(item.code, item.kind, value, quota, period)  # type: ignore[arg-type]
        row = session.get(LevelBenefit, (target.id, item.id))
        if row is None:
            row = LevelBenefit(level_id=target.id, benefit_id=item.id)
            session.add(row)
        row.value, row.quota, row.quota_period = value, quota, period if quota is not None else None
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="benefits.grant",
            target=f"{scheme}/{level}",
            detail={"benefit": benefit, "value": value, "quota": quota, "period": period},
        )
        return grant


def revoke_benefit(engine: Engine, *, scheme: str, level: str, benefit: str, actor: str) -> None:
    with session_scope(engine) as session:
        target, item = _level(session, scheme, level), _benefit(session, benefit)
        row = session.get(LevelBenefit, (target.id, item.id))
        if row is None:
            raise InputError(f"level {level!r} does not grant {benefit!r}")
        session.delete(row)
        append_audit(
            session,
            actor=actor,
            action="benefits.revoke",
            target=f"{scheme}/{level}",
            detail={"benefit": benefit},
        )


def level_grants(session: Session, level_ids: list[int]) -> dict[int, list[rules.Grant]]:
    """The benefits each level grants."""
    found: dict[int, list[rules.Grant]] = {i: [] for i in level_ids}
    if not level_ids:
        return found
    rows = session.execute(
        select(LevelBenefit, Benefit)
        .join(Benefit, Benefit.id == LevelBenefit.benefit_id)
        .where(LevelBenefit.level_id.in_(level_ids))
        .order_by(Benefit.code)
    )
    for grant, item in rows:
        found[grant.level_id].append(
            rules.Grant(item.code, item.kind, grant.value, grant.quota, grant.quota_period)  # type: ignore[arg-type]
        )
    return found


def catalogue(engine: Engine, *, scheme: str) -> list[dict[str, Any]]:
    """What each level of a scheme grants, lowest level first (the railway's seat classes)."""
    with session_scope(engine, read_only=True) as session:
        levels = list(
            session.scalars(
                select(Level)
                .join(LevelScheme, LevelScheme.id == Level.scheme_id)
                .where(LevelScheme.code == scheme)
                .order_by(Level.rank)
            )
        )
        if not levels:
            raise InputError(f"no level scheme {scheme!r} (or it has no levels)")
        grants = level_grants(session, [lv.id for lv in levels])
    return [
        {"level": lv.code, "name": lv.name, "benefits": [_grant_json(g) for g in grants[lv.id]]}
        for lv in levels
    ]


def _grant_json(grant: rules.Grant) -> dict[str, Any]:
    return {
        "code": grant.code,
        "kind": grant.kind,
        "value": grant.value,
        "quota": grant.quota,
        "period": grant.period,
    }


@dataclass(frozen=True, slots=True)
class EntitlementInfo:
    scheme: str
    level: str
    entitlement: rules.Entitlement

    def as_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "level": self.level,
            **_grant_json(self.entitlement.grant),
            "used": self.entitlement.used,
            "remaining": self.entitlement.remaining,
        }


def _entitlements(
    session: Session, user_id: str, at: datetime, tz: tzinfo
) -> list[EntitlementInfo]:
    rows = session.execute(
        select(LevelScheme.code, Level.id, Level.code)
        .join(MemberLevel, MemberLevel.level_id == Level.id)
        .join(LevelScheme, LevelScheme.id == MemberLevel.scheme_id)
        .where(MemberLevel.user_id == user_id, LevelScheme.is_active.is_(True))
        .order_by(LevelScheme.code)
    ).all()
    grants = level_grants(session, [level_id for _, level_id, _ in rows])
    found = []
    for scheme, level_id, level in rows:
        for grant in grants[level_id]:
            used = _used(session, user_id, grant, at, tz) if grant.quota is not None else 0
            found.append(EntitlementInfo(scheme, level, rules.Entitlement(grant, used)))
    return found


def _used(session: Session, user_id: str, grant: rules.Grant, at: datetime, tz: tzinfo) -> int:
    assert grant.period is not None
    statement = (
        select(func.coalesce(func.sum(BenefitUse.quantity), 0))
        .join(Benefit, Benefit.id == BenefitUse.benefit_id)
        .where(BenefitUse.user_id == user_id, Benefit.code == grant.code, BenefitUse.used_at <= at)
    )
    start = rules.quota_start(local_day(at, tz), grant.period)
    if start is not None:
        statement = statement.where(BenefitUse.used_at >= local_midnight(start, tz))
    return int(session.scalar(statement) or 0)


def entitlements(
    engine: Engine, *, user_id: str, at: datetime | None = None, tz: tzinfo = DEFAULT_TZ
) -> list[EntitlementInfo]:
    """What the user's current levels entitle them to at `at`, with the quota left."""
    with session_scope(engine, read_only=True) as session:
        return _entitlements(session, check_user(user_id), at or utcnow(), tz)


@dataclass(frozen=True, slots=True)
class BenefitUseResult:
    entitlement: EntitlementInfo
    replayed: bool

    def as_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "entitlement": self.entitlement.as_json()}


def use_benefit(
    engine: Engine,
    *,
    user_id: str,
    benefit: str,
    key: str,
    quantity: int = 1,
    at: datetime | None = None,
    reference: str | None = None,
    actor: str = "system",
    tz: tzinfo = DEFAULT_TZ,
) -> BenefitUseResult:
    """Use a benefit the user is entitled to now; beyond the quota is refused."""
    user, key = check_user(user_id), check_key(key)
    when = at or utcnow()
    try:
        with session_scope(engine) as session:
            ledger.lock_accounts(session, [user])
            done = session.scalars(
                select(BenefitUse).where(BenefitUse.idempotency_key == key)
            ).one_or_none()
            found = [
                e
                for e in _entitlements(session, user, when, tz)
                if e.entitlement.grant.code == benefit
            ]
            if done is not None:
                item = session.get(Benefit, done.benefit_id)
                if done.user_id != user or item is None or item.code != benefit:
                    raise KeyConflict(f"idempotency key {key!r} was already used for another use")
                if not found:
                    raise InputError(f"user {user!r} is no longer entitled to {benefit!r}")
                return BenefitUseResult(found[0], True)
            if not found:
                raise InputError(f"user {user!r} is not entitled to {benefit!r} at their level")
            best = max(
                found,
                key=lambda e: (
                    e.entitlement.remaining if e.entitlement.remaining is not None else 2**62
                ),
            )
            rules.check_use(best.entitlement, quantity, user)
            item = _benefit(session, benefit)
            level = _level(session, best.scheme, best.level)
            session.add(
                BenefitUse(
                    user_id=user,
                    benefit_id=item.id,
                    level_id=level.id,
                    used_at=when,
                    quantity=quantity,
                    idempotency_key=key,
                    reference=reference,
                    actor=actor,
                )
            )
            session.flush()
            after = rules.Entitlement(best.entitlement.grant, best.entitlement.used + quantity)
            return BenefitUseResult(EntitlementInfo(best.scheme, best.level, after), False)
    except IntegrityError as exc:
        raise KeyConflict(f"idempotency key {key!r} is being used concurrently") from exc
