"""Incentive rules (激励体系): define them, and apply them to events exactly once.

`apply_rules_to_events(session, events)` is the one engine: the backfill (events read from the
warehouse through Ibis, in time order, in chunks) and the live path (each batch the ingestion
API commits, `apply_batch`) both call it. Exactly once per (rule, event) comes from
`rule_applications`, unique on (rule_id, message_id), written in the same transaction as the
points and growth value, after the users' accounts are locked: a second run, a replay of the
same batch, or a concurrent backfill finds the application and gives nothing twice.

The level multiplier is the one in force at the start of the event's local day: a level
reached on day D (evaluated with the growth of day D) multiplies points from day D+1 on, so a
live event and the same event backfilled later get the same multiplier.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Final

import orjson
from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from userops.domain.membership import incentives as inc
from userops.domain.membership import points as point_rules
from userops.domain.membership.periods import local_day, period_start
from userops.errors import InputError
from userops.membership import growth, ledger
from userops.membership.points import DEFAULT_TZ
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import (
    Benefit,
    IncentiveCounter,
    IncentiveRule,
    LevelBenefit,
    LevelHistory,
    LevelScheme,
    PointsEntry,
    PointsLot,
    RuleApplication,
)
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse

Progress = Callable[[str], None]
LEVEL_MOVES: Final = ("upgrade", "downgrade", "assigned", "unassigned")
EVENT_COLUMNS: Final = ("message_id", "user_id", "event", "timestamp", "revenue", "properties")


# Definitions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule: inc.IncentiveRule
    name: str
    multiplier_scheme: str | None
    is_active: bool
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        r = self.rule

        def formula(f: inc.AwardFormula) -> dict[str, Any]:
            return {"mode": f.mode, "value": f.value, "unit_cents": f.unit_cents}

        def caps(c: inc.Caps) -> dict[str, int | None]:
            return {"day": c.day, "period": c.period, "lifetime": c.lifetime}

        return {
            "id": r.id,
            "code": r.code,
            "name": self.name,
            "event": r.event,
            "filters": [f.as_json() for f in r.filters],
            "points": formula(r.points),
            "growth": formula(r.growth),
            "points_caps": caps(r.points_caps),
            "growth_caps": caps(r.growth_caps),
            "cap_period": r.cap_period,
            "multiplier_scheme": self.multiplier_scheme,
            "maturity_days": r.maturity_days,
            "expiry": str(r.expiry),
            "reference_property": r.reference_property,
            "starts_at": r.starts_at.isoformat() if r.starts_at else None,
            "ends_at": r.ends_at.isoformat() if r.ends_at else None,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
        }


def parse_filters(items: Iterable[inc.Filter | str | Mapping[str, Any]]) -> tuple[inc.Filter, ...]:
    found = []
    for item in items:
        if isinstance(item, inc.Filter):
            found.append(item)
        elif isinstance(item, str):
            found.append(inc.Filter.parse(item))
        else:
            found.append(inc.Filter.from_json(item))
    return tuple(found)


def to_domain(row: IncentiveRule) -> inc.IncentiveRule:
    return inc.IncentiveRule(
        id=row.id,
        code=row.code,
        event=row.event,
        filters=parse_filters(row.filters or []),
        points=inc.AwardFormula(row.points_mode, row.points_value, row.unit_cents),  # type: ignore[arg-type]
        growth=inc.AwardFormula(row.growth_mode, row.growth_value, row.unit_cents),  # type: ignore[arg-type]
        points_caps=inc.Caps(row.points_cap_day, row.points_cap_period, row.points_cap_lifetime),
        growth_caps=inc.Caps(row.growth_cap_day, row.growth_cap_period, row.growth_cap_lifetime),
        cap_period=row.cap_period,  # type: ignore[arg-type]
        use_multiplier=row.use_multiplier,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        maturity_days=row.maturity_days,
        expiry=point_rules.ExpiryRule.parse(row.expiry),
        reference_property=row.reference_property,
    )


def _info(session: Session, row: IncentiveRule) -> RuleInfo:
    scheme = (
        session.get(LevelScheme, row.multiplier_scheme_id) if row.multiplier_scheme_id else None
    )
    return RuleInfo(
        to_domain(row), row.name, scheme.code if scheme else None, row.is_active, row.created_at
    )


def create_rule(
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
    actor: str = "system",
) -> RuleInfo:
    """Define a rule; it applies to events from now on, and to history through `backfill`."""
    code = code.strip()
    if not code or len(code) > 64 or not event.strip():
        raise InputError("a rule needs a code (1 to 64 characters) and an event name")
    point_rules.check_maturity(maturity_days)
    inc.check_rule_times(starts_at, ends_at)
    rule = inc.IncentiveRule(
        id=0,
        code=code,
        event=event.strip(),
        filters=parse_filters(filters),
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
        rule.points.unit_cents != rule.growth.unit_cents
        and "per_amount" in (rule.points.mode, rule.growth.mode)
        and rule.points.mode != "none"
        and rule.growth.mode != "none"
    ):
        raise InputError("points and growth value per amount must use the same amount unit")
    unit = rule.points.unit_cents if rule.points.mode != "none" else rule.growth.unit_cents
    with session_scope(engine) as session:
        if session.scalars(select(IncentiveRule).where(IncentiveRule.code == code)).first():
            raise InputError(f"a rule with code {code!r} already exists")
        scheme_id = None
        if multiplier_scheme is not None:
            scheme = session.scalars(
                select(LevelScheme).where(LevelScheme.code == multiplier_scheme)
            ).one_or_none()
            if scheme is None:
                raise InputError(f"no level scheme {multiplier_scheme!r} for the multiplier")
            scheme_id = scheme.id
        row = IncentiveRule(
            code=code,
            name=name.strip() or code,
            event=rule.event,
            filters=[f.as_json() for f in rule.filters],
            points_mode=rule.points.mode,
            points_value=rule.points.value,
            growth_mode=rule.growth.mode,
            growth_value=rule.growth.value,
            unit_cents=unit,
            use_multiplier=rule.use_multiplier,
            multiplier_scheme_id=scheme_id,
            cap_period=rule.cap_period,
            points_cap_day=rule.points_caps.day,
            points_cap_period=rule.points_caps.period,
            points_cap_lifetime=rule.points_caps.lifetime,
            growth_cap_day=rule.growth_caps.day,
            growth_cap_period=rule.growth_caps.period,
            growth_cap_lifetime=rule.growth_caps.lifetime,
            maturity_days=maturity_days,
            expiry=str(rule.expiry),
            reference_property=reference_property,
            starts_at=starts_at,
            ends_at=ends_at,
            is_active=True,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="rules.create",
            target=code,
            detail=_info(session, row).as_json(),
        )
        return _info(session, row)


def list_rules(engine: Engine, *, include_inactive: bool = True) -> list[RuleInfo]:
    with session_scope(engine, read_only=True) as session:
        statement = select(IncentiveRule).order_by(IncentiveRule.code)
        if not include_inactive:
            statement = statement.where(IncentiveRule.is_active.is_(True))
        return [_info(session, row) for row in session.scalars(statement)]


def set_rule_active(engine: Engine, *, code: str, active: bool, actor: str) -> RuleInfo:
    """Pause or resume a rule (events that arrive while it is paused earn nothing from it,
    unless a backfill runs after it is resumed)."""
    with session_scope(engine) as session:
        row = session.scalars(select(IncentiveRule).where(IncentiveRule.code == code)).first()
        if row is None:
            raise InputError(f"no rule with code {code!r}")
        row.is_active = active
        session.flush()
        append_audit(
            session, actor=actor, action="rules.activate" if active else "rules.pause", target=code
        )
        return _info(session, row)


# The engine ---------------------------------------------------------------------------------


@dataclass
class ApplyResult:
    """What applying rules to some events did."""

    events: int = 0
    applied: int = 0
    points: int = 0
    growth: int = 0
    users: set[str] = field(default_factory=set)

    def __iadd__(self, other: ApplyResult) -> ApplyResult:
        self.events += other.events
        self.applied += other.applied
        self.points += other.points
        self.growth += other.growth
        self.users |= other.users
        return self

    def as_json(self) -> dict[str, int]:
        return {
            "events": self.events,
            "applied": self.applied,
            "points": self.points,
            "growth": self.growth,
            "users": len(self.users),
        }


@dataclass(frozen=True, slots=True)
class ActiveRule:
    rule: inc.IncentiveRule
    multiplier_scheme_id: int | None


def active_rules(session: Session) -> list[ActiveRule]:
    rows = session.scalars(
        select(IncentiveRule).where(IncentiveRule.is_active.is_(True)).order_by(IncentiveRule.id)
    )
    return [ActiveRule(to_domain(row), row.multiplier_scheme_id) for row in rows]


def _as_event(item: inc.RuleEvent | Mapping[str, Any]) -> inc.RuleEvent:
    if isinstance(item, inc.RuleEvent):
        return item
    row = dict(item)
    properties = row.get("properties")
    if isinstance(properties, str | bytes):
        row["properties"] = orjson.loads(properties) if properties else {}
    return inc.RuleEvent.of(row)


def apply_rules_to_events(
    session: Session,
    events: Iterable[inc.RuleEvent | Mapping[str, Any]],
    *,
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    rules: Sequence[ActiveRule] | None = None,
) -> ApplyResult:
    """Apply the active rules to `events` (warehouse rows, or `RuleEvent`s) in the caller's
    transaction, exactly once per (rule, event); events already applied give nothing."""
    active = active_rules(session) if rules is None else list(rules)
    seen: dict[str, inc.RuleEvent] = {}
    for item in events:
        event = _as_event(item)
        seen.setdefault(event.message_id, event)
    result = ApplyResult(events=len(seen))
    domain = [a.rule for a in active]
    candidates = [e for e in seen.values() if any(r.applies_to(e) for r in domain)]
    if not candidates:
        return result
    users = sorted({e.user_id for e in candidates if e.user_id})
    ledger.lock_accounts(session, users)
    already = _applied(session, [e.message_id for e in candidates])
    first_day = min(local_day(e.timestamp, tz) for e in candidates)
    counters = _counters(session, domain, users, first_day)
    grants, touched = inc.plan_awards(
        domain,
        candidates,
        tz=tz,
        counters=counters,
        multiplier=_multipliers(session, active, users, tz),
        applied=lambda rule_id, message_id: (rule_id, message_id) in already,
    )
    if not grants:
        return result
    _write(session, grants, touched, {a.rule.id: a.rule for a in active}, tz, now or utcnow())
    result.applied = len(grants)
    result.points = sum(g.points for g in grants)
    result.growth = sum(g.growth for g in grants)
    result.users = {g.user_id for g in grants}
    return result


def _applied(session: Session, message_ids: Sequence[str]) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for part in ledger.chunks(sorted(set(message_ids))):
        rows = session.execute(
            select(RuleApplication.rule_id, RuleApplication.message_id).where(
                RuleApplication.message_id.in_(part)
            )
        )
        found.update((int(r), str(m)) for r, m in rows)
    return found


def _counters(
    session: Session, rules: Sequence[inc.IncentiveRule], users: Sequence[str], first_day: date
) -> dict[inc.CounterKey, tuple[int, int]]:
    capped = [r for r in rules if r.capped]
    if not capped:
        return {}
    oldest = min(period_start(first_day, r.cap_period) for r in capped)
    found: dict[inc.CounterKey, tuple[int, int]] = {}
    for part in ledger.chunks(list(users)):
        rows = session.scalars(
            select(IncentiveCounter).where(
                IncentiveCounter.rule_id.in_([r.id for r in capped]),
                IncentiveCounter.user_id.in_(part),
                or_(IncentiveCounter.span == "life", IncentiveCounter.start >= oldest),
            )
        )
        for c in rows:
            found[(c.rule_id, c.user_id, c.span, c.start)] = (c.points, c.growth)  # type: ignore[index]
    return found


def _multipliers(
    session: Session, active: Sequence[ActiveRule], users: Sequence[str], tz: tzinfo
) -> Callable[[inc.IncentiveRule, str, datetime], int] | None:
    scheme_of = {a.rule.id: a.multiplier_scheme_id for a in active if a.rule.use_multiplier}
    schemes = sorted({s for s in scheme_of.values() if s is not None})
    if not schemes:
        return None
    percents: dict[int, int] = {}
    for level_id, value in session.execute(
        select(LevelBenefit.level_id, LevelBenefit.value)
        .join(Benefit, Benefit.id == LevelBenefit.benefit_id)
        .where(Benefit.kind == "points_multiplier")
    ):
        percents[level_id] = max(percents.get(level_id, 0), int(value))
    moves: dict[tuple[int, str], tuple[list[date], list[int | None]]] = defaultdict(
        lambda: ([], [])
    )
    for part in ledger.chunks(list(users)):
        rows = session.execute(
            select(
                LevelHistory.scheme_id,
                LevelHistory.user_id,
                LevelHistory.on_day,
                LevelHistory.to_level_id,
            )
            .where(
                LevelHistory.scheme_id.in_(schemes),
                LevelHistory.user_id.in_(part),
                LevelHistory.kind.in_(LEVEL_MOVES),
            )
            .order_by(LevelHistory.on_day, LevelHistory.id)
        )
        for scheme_id, user_id, on_day, to_level in rows:
            days, levels = moves[(scheme_id, user_id)]
            days.append(on_day)
            levels.append(to_level)

    def multiplier(rule: inc.IncentiveRule, user_id: str, at: datetime) -> int:
        scheme = scheme_of.get(rule.id)
        if scheme is None or (scheme, user_id) not in moves:
            return 100
        days, levels = moves[(scheme, user_id)]
        index = bisect.bisect_left(days, local_day(at, tz)) - 1  # moves before the event's day
        level = levels[index] if index >= 0 else None
        return percents.get(level, 100) if level is not None else 100

    return multiplier


def _write(
    session: Session,
    grants: Sequence[inc.Grant],
    touched: Mapping[inc.CounterKey, tuple[int, int]],
    rules: Mapping[int, inc.IncentiveRule],
    tz: tzinfo,
    now: datetime,
) -> None:
    session.execute(
        ledger.insert_for(session, ledger.table_of(RuleApplication)),
        [
            {
                "rule_id": g.rule_id,
                "message_id": g.message_id,
                "user_id": g.user_id,
                "event_at": g.event_at,
                "points": g.points,
                "growth": g.growth,
                "applied_at": now,
            }
            for g in grants
        ],
    )
    if touched:
        table = ledger.table_of(IncentiveCounter)
        upsert = ledger.insert_for(session, table)
        upsert = upsert.on_conflict_do_update(
            index_elements=["rule_id", "user_id", "span", "start"],
            set_={"points": upsert.excluded.points, "growth": upsert.excluded.growth},
        )
        session.execute(
            upsert,
            [
                {"rule_id": r, "user_id": u, "span": w, "start": s, "points": p, "growth": g}
                for (r, u, w, s), (p, g) in touched.items()
            ],
        )
    _write_points(session, [g for g in grants if g.points > 0], rules, tz, now)
    growth.post(
        session,
        [
            growth.GrowthRow(
                user_id=g.user_id,
                amount=g.growth,
                key=f"rule:{g.rule_id}:{g.message_id}",
                effective_at=g.event_at,
                rule_id=g.rule_id,
                reference=g.reference,
            )
            for g in grants
            if g.growth > 0
        ],
    )


def _write_points(
    session: Session,
    grants: Sequence[inc.Grant],
    rules: Mapping[int, inc.IncentiveRule],
    tz: tzinfo,
    now: datetime,
) -> None:
    if not grants:
        return
    entries = ledger.table_of(PointsEntry)
    times = []
    values = []
    for g in grants:
        rule = rules[g.rule_id]
        matures_at, expires_at = point_rules.lot_times(
            g.event_at, maturity_days=rule.maturity_days, expiry=rule.expiry, tz=tz
        )
        times.append((matures_at, expires_at))
        key = f"rule:{g.rule_id}:{g.message_id}"
        values.append(
            {
                "user_id": g.user_id,
                "kind": "earn",
                "amount": g.points,
                "idempotency_key": key,
                "op_key": key,
                "effective_at": g.event_at,
                "recorded_at": now,
                "matures_at": matures_at if matures_at > g.event_at else None,
                "reference": g.reference,
                "rule_id": g.rule_id,
                "reverses_id": None,
                "actor": "rules",
                "reason": rules[g.rule_id].code,
                "detail": {"message_id": g.message_id},
            }
        )
    ids = (
        session.execute(
            entries.insert().returning(entries.c.id, sort_by_parameter_order=True), values
        )
        .scalars()
        .all()
    )
    session.execute(
        ledger.table_of(PointsLot).insert(),
        [
            {
                "entry_id": entry_id,
                "user_id": g.user_id,
                "amount": g.points,
                "remaining": g.points,
                "spent": 0,
                "expired": 0,
                "reversed": 0,
                "expired_covered": 0,
                "clawed": 0,
                "owed": 0,
                "matures_at": matures_at,
                "expires_at": expires_at,
            }
            for entry_id, g, (matures_at, expires_at) in zip(ids, grants, times, strict=True)
        ],
    )
    ledger.add_to_balances(session, ledger.sums_by_user((g.user_id, g.points) for g in grants))
    stale = sorted(
        {
            g.user_id
            for g, (_, expires) in zip(grants, times, strict=True)
            if expires is not None and expires <= now
        }
    )
    if stale:
        ledger.settle(session, stale, now)


def apply_events(
    engine: Engine,
    events: Iterable[inc.RuleEvent | Mapping[str, Any]],
    *,
    tz: tzinfo = DEFAULT_TZ,
) -> ApplyResult:
    """`apply_rules_to_events` in a transaction of its own."""
    with session_scope(engine) as session:
        return apply_rules_to_events(session, events, tz=tz)


# Reading events from the warehouse -----------------------------------------------------------


def _rule_event_names(engine: Engine) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return sorted({a.rule.event for a in active_rules(session)})


def warehouse_events(
    wh: Warehouse,
    *,
    names: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    batch_id: str | None = None,
    chunk: int = 20_000,
) -> Iterator[list[dict[str, Any]]]:
    """Chunks of event rows (as dicts) that rules may apply to, in time order.

    An Ibis expression, paged by keyset on (timestamp, message_id), so it runs the same on
    DuckDB and ClickHouse and never holds more than one chunk in memory.
    """
    if not names:
        return
    t = wh.table("events")
    base = t.filter(t.event.isin(list(names)), t.user_id.notnull(), t.type == "track")
    if since is not None:
        base = base.filter(t.timestamp >= since)
    if until is not None:
        base = base.filter(t.timestamp < until)
    if batch_id is not None:
        base = base.filter(t.batch_id == batch_id)
    last: tuple[Any, str] | None = None
    while True:
        page = base
        if last is not None:
            ts, mid = last
            page = page.filter((t.timestamp > ts) | ((t.timestamp == ts) & (t.message_id > mid)))
        expr = page.select(*EVENT_COLUMNS).order_by(["timestamp", "message_id"]).limit(chunk)
        rows = wh.ibis.to_pyarrow(expr).to_pylist()
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = (rows[-1]["timestamp"], rows[-1]["message_id"])


def backfill(
    engine: Engine,
    wh: Warehouse,
    *,
    tz: tzinfo = DEFAULT_TZ,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk: int = 20_000,
    progress: Progress | None = None,
) -> ApplyResult:
    """Apply the active rules to the warehouse's events (optionally a time range), oldest
    first, one transaction per chunk; rerunning it gives nothing twice."""
    total = ApplyResult()
    step = progress or (lambda _label: None)
    names = _rule_event_names(engine)
    for rows in warehouse_events(wh, names=names, since=since, until=until, chunk=chunk):
        with session_scope(engine) as session:
            total += apply_rules_to_events(session, rows, tz=tz)
        step(f"{total.events:,} events, {total.applied:,} awards")
    return total


def apply_batch(
    engine: Engine, wh: Warehouse, *, batch_id: str, tz: tzinfo = DEFAULT_TZ
) -> ApplyResult:
    """The live path: apply the rules to the events one ingestion batch just committed.

    Called after the warehouse commit; if it fails (or the process dies first), the events
    are still in the warehouse and the next `userops rules backfill` applies them, once.
    """
    total = ApplyResult()
    names = _rule_event_names(engine)
    if not names:
        return total  # no active rule: nothing to read back from the warehouse
    for rows in warehouse_events(wh, names=names, batch_id=batch_id):
        with session_scope(engine) as session:
            total += apply_rules_to_events(session, rows, tz=tz)
    return total
