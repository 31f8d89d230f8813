"""Changing level schemes and incentive rules after they were created (the console's editors).

A change applies from the next evaluation or the next event on; nothing already earned,
evaluated or awarded is rewritten (the ledgers and the level history are append-only).

- A scheme's name, policy, window, keep and notice periods, and whether it is active, can
  change; its levels can be renamed, given other thresholds, made invitation-only or not, and
  new levels can be added anywhere. Existing levels keep their order (a history that says
  "upgrade from gold to silver" would lie otherwise), and a level someone holds or held (in
  the history) cannot be removed; one nobody ever held can.
- A rule can change everything but its code; its caps keep counting what it already gave.

Each change is checked whole before anything is written, then written in one transaction with
an audit entry holding the definition before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.orm import Session

from userops.domain.membership import incentives as inc
from userops.domain.membership import levels as level_rules
from userops.domain.membership import points as point_rules
from userops.domain.membership.levels import LevelDef, LevelPolicy
from userops.errors import InputError, NotFoundError
from userops.membership import rules
from userops.membership.levels import LevelSpec, SchemeInfo, _scheme_info
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import (
    BenefitUse,
    IncentiveRule,
    Level,
    LevelBenefit,
    LevelHistory,
    LevelScheme,
    MemberLevel,
)

# Level schemes ----------------------------------------------------------------------------


def _scheme(session: Session, code: str) -> LevelScheme:
    row = session.scalars(select(LevelScheme).where(LevelScheme.code == code)).one_or_none()
    if row is None:
        raise NotFoundError(f"no level scheme {code!r}")
    return row


def _held(session: Session, level_id: int) -> bool:
    """Whether anyone holds or ever held the level (or used a benefit through it)."""
    checks = (
        select(func.count()).select_from(MemberLevel).where(MemberLevel.level_id == level_id),
        select(func.count())
        .select_from(LevelHistory)
        .where(or_(LevelHistory.from_level_id == level_id, LevelHistory.to_level_id == level_id)),
        select(func.count()).select_from(BenefitUse).where(BenefitUse.level_id == level_id),
    )
    return any(int(session.scalar(check) or 0) for check in checks)


def update_scheme(
    engine: Engine,
    *,
    code: str,
    name: str,
    levels: Sequence[LevelSpec],
    policy: level_rules.Policy,
    window_months: int | None,
    keep_days: int,
    notice_days: int,
    is_active: bool = True,
    actor: str,
) -> SchemeInfo:
    """Replace a scheme's definition (its levels lowest first, matched by code)."""
    checked = LevelPolicy(policy, window_months, keep_days, notice_days)
    specs = [
        LevelSpec(s.code.strip(), s.name.strip() or s.code.strip(), s.threshold, s.invite_only)
        for s in levels
    ]
    if not specs:
        raise InputError("a scheme needs at least one level")
    if any(not s.code or len(s.code) > 64 for s in specs):
        raise InputError("every level needs a code of 1 to 64 characters")
    level_rules.check_levels(
        [
            LevelDef(0, s.code, s.name, rank, s.threshold, s.invite_only)
            for rank, s in enumerate(specs, start=1)
        ]
    )
    with session_scope(engine) as session:
        row = _scheme(session, code)
        before = _scheme_info(session, row)
        existing = {lv.code: lv for lv in before.levels}
        kept = [s.code for s in specs if s.code in existing]
        if kept != [lv.code for lv in before.levels if lv.code in kept]:
            raise InputError(
                "existing levels keep their order (" + " < ".join(existing) + "); "
                "change their thresholds or add new levels instead"
            )
        for gone in (lv for lv in before.levels if lv.code not in kept):
            if _held(session, gone.id):
                raise InputError(f"level {gone.code!r} cannot be removed: users hold or held it")
        rows = {
            lv.code: lv for lv in session.scalars(select(Level).where(Level.scheme_id == row.id))
        }
        for gone_code in set(rows) - set(kept):
            gone_row = rows.pop(gone_code)
            session.execute(delete(LevelBenefit).where(LevelBenefit.level_id == gone_row.id))
            session.delete(gone_row)
        # Ranks are unique per scheme: move the kept levels out of the way first.
        for offset, level_row in enumerate(rows.values(), start=1):
            level_row.rank = -offset
        session.flush()
        for rank, spec in enumerate(specs, start=1):
            level_row = rows.get(spec.code) or Level(scheme_id=row.id, code=spec.code)
            if spec.code not in rows:
                session.add(level_row)
            level_row.name = spec.name
            level_row.rank = rank
            level_row.threshold = spec.threshold
            level_row.invite_only = spec.invite_only
        row.name = name.strip() or row.code
        row.policy = checked.policy
        row.window_months = checked.window_months
        row.keep_days = checked.keep_days
        row.notice_days = checked.notice_days
        row.is_active = is_active
        session.flush()
        after = _scheme_info(session, row)
        append_audit(
            session,
            actor=actor,
            action="levels.update_scheme",
            target=row.code,
            detail={"before": before.as_json(), "after": after.as_json()},
        )
        return after


# Incentive rules ----------------------------------------------------------------------------


def update_rule(
    engine: Engine,
    *,
    code: str,
    name: str,
    event: str,
    filters: Iterable[inc.Filter | str | Mapping[str, Any]] = (),
    points: inc.AwardFormula | None = None,
    growth: inc.AwardFormula | None = None,
    points_caps: inc.Caps | None = None,
    growth_caps: inc.Caps | None = None,
    cap_period: inc.CapPeriod = "month",
    multiplier_scheme: str | None = None,
    maturity_days: int = 0,
    expiry: point_rules.ExpiryRule | str = "never",
    reference_property: str | None = "order_id",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    actor: str,
) -> rules.RuleInfo:
    """Replace a rule's definition (all but its code); it applies to events from now on."""
    if not event.strip() or len(event.strip()) > 200:
        raise InputError("a rule needs an event name (1 to 200 characters)")
    point_rules.check_maturity(maturity_days)
    inc.check_rule_times(starts_at, ends_at)
    rule = inc.IncentiveRule(
        id=0,
        code=code,
        event=event.strip(),
        filters=rules.parse_filters(filters),
        points=points or inc.AwardFormula(),
        growth=growth or inc.AwardFormula(),
        points_caps=points_caps or inc.Caps(),
        growth_caps=growth_caps or inc.Caps(),
        cap_period=cap_period,
        use_multiplier=multiplier_scheme is not None,
        starts_at=starts_at,
        ends_at=ends_at,
        maturity_days=maturity_days,
        expiry=expiry
        if isinstance(expiry, point_rules.ExpiryRule)
        else point_rules.ExpiryRule.parse(expiry),
        reference_property=reference_property,
    )
    if (
        "none" not in (rule.points.mode, rule.growth.mode)
        and "per_amount" in (rule.points.mode, rule.growth.mode)
        and rule.points.unit_cents != rule.growth.unit_cents
    ):
        raise InputError("points and growth value per amount must use the same amount unit")
    unit = rule.points.unit_cents if rule.points.mode != "none" else rule.growth.unit_cents
    with session_scope(engine) as session:
        row = session.scalars(select(IncentiveRule).where(IncentiveRule.code == code)).first()
        if row is None:
            raise NotFoundError(f"no rule with code {code!r}")
        before = rules._info(session, row).as_json()
        scheme_id = None
        if multiplier_scheme is not None:
            scheme_id = _scheme(session, multiplier_scheme).id
        row.name = name.strip() or code
        row.event = rule.event
        row.filters = [f.as_json() for f in rule.filters]
        row.points_mode, row.points_value = rule.points.mode, rule.points.value
        row.growth_mode, row.growth_value = rule.growth.mode, rule.growth.value
        row.unit_cents = unit
        row.use_multiplier = rule.use_multiplier
        row.multiplier_scheme_id = scheme_id
        row.cap_period = rule.cap_period
        row.points_cap_day = rule.points_caps.day
        row.points_cap_period = rule.points_caps.period
        row.points_cap_lifetime = rule.points_caps.lifetime
        row.growth_cap_day = rule.growth_caps.day
        row.growth_cap_period = rule.growth_caps.period
        row.growth_cap_lifetime = rule.growth_caps.lifetime
        row.maturity_days = maturity_days
        row.expiry = str(rule.expiry)
        row.reference_property = reference_property
        row.starts_at, row.ends_at = starts_at, ends_at
        session.flush()
        info = rules._info(session, row)
        append_audit(
            session,
            actor=actor,
            action="rules.update",
            target=code,
            detail={"before": before, "after": info.as_json()},
        )
        return info
