"""Level schemes and the daily evaluation that moves users on them (等级).

`evaluate(engine, on=D)` runs the domain's policy (`domain.membership.levels.evaluate`) for every
user of every active scheme with the growth value of the scheme's window ending on local day D,
stores where each user stands (`member_levels`) and appends every step to `level_history`.
`publish_level_events` then writes each step to the warehouse as an event (`level_upgrade`,
`level_downgrade`, `level_notice`, ...), with a message id made from the history row, so
publishing twice stores nothing twice. Evaluate days in order: a day before the last evaluated
one is skipped for that user (the state only moves forward).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Final

import orjson
import pyarrow as pa
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from userops.domain.bounds import check_day
from userops.domain.membership import levels as rules
from userops.domain.membership.levels import LevelChange, LevelDef, LevelPolicy, MemberState
from userops.domain.membership.periods import local_midnight
from userops.errors import InputError
from userops.ingest.pipeline import import_table
from userops.membership import growth, ledger
from userops.membership.points import DEFAULT_TZ
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import Level, LevelHistory, LevelScheme, MemberLevel
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse

EVALUATION_BATCH: Final = 2000


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """A level as an operator defines it (ranks follow the order given, lowest first)."""

    code: str
    name: str
    threshold: int
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class SchemeInfo:
    id: int
    code: str
    name: str
    policy: LevelPolicy
    levels: tuple[LevelDef, ...]
    is_active: bool

    def level(self, code: str) -> LevelDef:
        for level in self.levels:
            if level.code == code:
                return level
        raise InputError(f"scheme {self.code!r} has no level {code!r}")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "policy": self.policy.policy,
            "window_months": self.policy.window_months,
            "keep_days": self.policy.keep_days,
            "notice_days": self.policy.notice_days,
            "is_active": self.is_active,
            "levels": [
                {
                    "id": lv.id,
                    "code": lv.code,
                    "name": lv.name,
                    "rank": lv.rank,
                    "threshold": lv.threshold,
                    "invite_only": lv.invite_only,
                }
                for lv in self.levels
            ],
        }


def _scheme_info(session: Session, row: LevelScheme) -> SchemeInfo:
    levels = session.scalars(select(Level).where(Level.scheme_id == row.id).order_by(Level.rank))
    return SchemeInfo(
        id=row.id,
        code=row.code,
        name=row.name,
        policy=LevelPolicy(
            row.policy,  # type: ignore[arg-type]
            row.window_months,
            row.keep_days,
            row.notice_days,
        ),
        levels=tuple(
            LevelDef(lv.id, lv.code, lv.name, lv.rank, lv.threshold, lv.invite_only)
            for lv in levels
        ),
        is_active=row.is_active,
    )


def _scheme_row(session: Session, code: str) -> LevelScheme:
    row = session.scalars(select(LevelScheme).where(LevelScheme.code == code)).one_or_none()
    if row is None:
        raise InputError(f"no level scheme {code!r}")
    return row


def create_scheme(
    engine: Engine,
    *,
    code: str,
    name: str,
    levels: Sequence[LevelSpec],
    policy: rules.Policy = "only_up",
    window_months: int | None = None,
    keep_days: int = 0,
    notice_days: int = 0,
    actor: str = "system",
) -> SchemeInfo:
    """A new scheme with its levels, lowest first (L1..Ln, or silver, gold, platinum...)."""
    code = code.strip()
    if not code or len(code) > 64:
        raise InputError("a scheme needs a code of 1 to 64 characters")
    checked = LevelPolicy(policy, window_months, keep_days, notice_days)
    defs = [
        LevelDef(
            0,
            spec.code.strip(),
            spec.name.strip() or spec.code,
            rank,
            spec.threshold,
            spec.invite_only,
        )
        for rank, spec in enumerate(levels, start=1)
    ]
    if not defs:
        raise InputError("a scheme needs at least one level")
    rules.check_levels(defs)
    with session_scope(engine) as session:
        if session.scalars(select(LevelScheme).where(LevelScheme.code == code)).first():
            raise InputError(f"a level scheme {code!r} already exists")
        row = LevelScheme(
            code=code,
            name=name.strip() or code,
            policy=checked.policy,
            window_months=checked.window_months,
            keep_days=checked.keep_days,
            notice_days=checked.notice_days,
            is_active=True,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.add_all(
            Level(
                scheme_id=row.id,
                code=d.code,
                name=d.name,
                rank=d.rank,
                threshold=d.threshold,
                invite_only=d.invite_only,
            )
            for d in defs
        )
        session.flush()
        info = _scheme_info(session, row)
        append_audit(
            session, actor=actor, action="levels.create_scheme", target=code, detail=info.as_json()
        )
        return info


def get_scheme(engine: Engine, *, code: str) -> SchemeInfo:
    with session_scope(engine, read_only=True) as session:
        return _scheme_info(session, _scheme_row(session, code))


def list_schemes(engine: Engine) -> list[SchemeInfo]:
    with session_scope(engine, read_only=True) as session:
        rows = session.scalars(select(LevelScheme).order_by(LevelScheme.code))
        return [_scheme_info(session, row) for row in rows]


# Where users stand ----------------------------------------------------------------------------


def _state(row: MemberLevel | None, by_id: dict[int, LevelDef]) -> MemberState:
    if row is None:
        return MemberState()
    return MemberState(
        level=by_id.get(row.level_id) if row.level_id is not None else None,
        since=row.since,
        below_since=row.below_since,
        downgrade_on=row.downgrade_on,
        notice_sent=row.notice_sent,
        assigned=row.assigned,
        assigned_until=row.assigned_until,
    )


def _store(
    session: Session,
    scheme: SchemeInfo,
    user_id: str,
    row: MemberLevel | None,
    state: MemberState,
    on: date,
    growth_value: int,
) -> MemberLevel:
    if row is None:
        row = MemberLevel(scheme_id=scheme.id, user_id=user_id)
        session.add(row)
    row.level_id = state.level.id if state.level else None
    row.since = state.since
    row.below_since = state.below_since
    row.downgrade_on = state.downgrade_on
    row.notice_sent = state.notice_sent
    row.assigned = state.assigned
    row.assigned_until = state.assigned_until
    row.growth = growth_value
    row.evaluated_on = on
    return row


def _append_history(
    session: Session,
    scheme: SchemeInfo,
    user_id: str,
    changes: Sequence[LevelChange],
    *,
    actor: str = "system",
    reason: str | None = None,
) -> None:
    now = utcnow()
    session.add_all(
        LevelHistory(
            scheme_id=scheme.id,
            user_id=user_id,
            kind=c.kind,
            from_level_id=c.from_level.id if c.from_level else None,
            to_level_id=c.to_level.id if c.to_level else None,
            on_day=c.on,
            growth=c.growth,
            downgrade_on=c.downgrade_on,
            actor=actor,
            reason=reason,
            recorded_at=now,
        )
        for c in changes
    )


@dataclass
class EvaluationRun:
    """What one evaluation did, per scheme: users evaluated and changes by kind."""

    on: date
    users: int = 0
    changes: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "users": self.users, "changes": dict(self.changes)}


def evaluate(
    engine: Engine,
    *,
    on: date,
    tz: tzinfo = DEFAULT_TZ,
    scheme: str | None = None,
    user_ids: Sequence[str] | None = None,
    batch: int = EVALUATION_BATCH,
) -> EvaluationRun:
    """Evaluate every user with growth value or a level in the active schemes (or `scheme`)
    for local day `on`, `batch` users per transaction."""
    run = EvaluationRun(check_day(on, "the evaluation day"))
    with session_scope(engine, read_only=True) as session:
        if scheme is not None:
            schemes = [_scheme_info(session, _scheme_row(session, scheme))]
        else:
            rows = session.scalars(
                select(LevelScheme).where(LevelScheme.is_active.is_(True)).order_by(LevelScheme.id)
            )
            schemes = [_scheme_info(session, row) for row in rows]
        everyone = sorted(set(user_ids)) if user_ids is not None else None
        if everyone is None:
            known = set(growth.users_with_growth(session))
            known.update(session.scalars(select(MemberLevel.user_id).distinct()))
            everyone = sorted(known)
    for info in schemes:
        for part in ledger.chunks(everyone, batch):
            with session_scope(engine) as session:
                _evaluate_users(session, info, part, on, tz, run)
    return run


def _evaluate_users(
    session: Session,
    scheme: SchemeInfo,
    users: Sequence[str],
    on: date,
    tz: tzinfo,
    run: EvaluationRun,
) -> None:
    by_id = {lv.id: lv for lv in scheme.levels}
    rows = {
        r.user_id: r
        for r in session.scalars(
            select(MemberLevel).where(
                MemberLevel.scheme_id == scheme.id, MemberLevel.user_id.in_(list(users))
            )
        )
    }
    totals = growth.totals(
        session, first_day=scheme.policy.window_first_day(on), last_day=on, tz=tz, user_ids=users
    )
    for user in users:
        row = rows.get(user)
        if row is not None and row.evaluated_on is not None and row.evaluated_on > on:
            continue
        value = totals.get(user, 0)
        state = _state(row, by_id)
        result = rules.evaluate(scheme.levels, scheme.policy, state, value, on)
        run.users += 1
        if result.changes or row is None or result.state != state or row.growth != value:
            _store(session, scheme, user, row, result.state, on, value)
        if result.changes:
            _append_history(session, scheme, user, result.changes)
            run.changes.update(c.kind for c in result.changes)
    session.flush()


def assign_level(
    engine: Engine,
    *,
    scheme: str,
    user_id: str,
    level: str,
    on: date,
    until: date | None = None,
    actor: str,
    reason: str | None = None,
) -> MemberLevelInfo:
    """Put a user on a level by hand (the way onto an invitation-only level), until a day or
    for good; evaluation then only moves them up until the assignment ends."""
    check_day(on, "the assignment day")
    if until is not None:
        check_day(until, "the assignment's last day (until)")
    with session_scope(engine) as session:
        info = _scheme_info(session, _scheme_row(session, scheme))
        target = info.level(level)
        row = session.get(MemberLevel, (info.id, user_id))
        by_id = {lv.id: lv for lv in info.levels}
        value = row.growth if row else 0
        result = rules.assign(_state(row, by_id), target, on, until=until, growth=value)
        row = _store(session, info, user_id, row, result.state, on, value)
        _append_history(session, info, user_id, result.changes, actor=actor, reason=reason)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="levels.assign",
            target=user_id,
            detail={"scheme": scheme, "level": level, "until": str(until or "")},
        )
        return _member_info(info, row, by_id)


@dataclass(frozen=True, slots=True)
class MemberLevelInfo:
    scheme: str
    user_id: str
    level: str | None
    level_name: str | None
    since: date | None
    growth: int
    downgrade_on: date | None
    assigned: bool
    assigned_until: date | None

    def as_json(self) -> dict[str, Any]:
        def day(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "scheme": self.scheme,
            "user_id": self.user_id,
            "level": self.level,
            "level_name": self.level_name,
            "since": day(self.since),
            "growth": self.growth,
            "downgrade_on": day(self.downgrade_on),
            "assigned": self.assigned,
            "assigned_until": day(self.assigned_until),
        }


def _member_info(
    scheme: SchemeInfo, row: MemberLevel | None, by_id: dict[int, LevelDef], user_id: str = ""
) -> MemberLevelInfo:
    level = by_id.get(row.level_id) if row and row.level_id is not None else None
    return MemberLevelInfo(
        scheme=scheme.code,
        user_id=row.user_id if row else user_id,
        level=level.code if level else None,
        level_name=level.name if level else None,
        since=row.since if row else None,
        growth=row.growth if row else 0,
        downgrade_on=row.downgrade_on if row else None,
        assigned=row.assigned if row else False,
        assigned_until=row.assigned_until if row else None,
    )


def member_level(engine: Engine, *, scheme: str, user_id: str) -> MemberLevelInfo:
    with session_scope(engine, read_only=True) as session:
        info = _scheme_info(session, _scheme_row(session, scheme))
        row = session.get(MemberLevel, (info.id, user_id))
        return _member_info(info, row, {lv.id: lv for lv in info.levels}, user_id)


@dataclass(frozen=True, slots=True)
class HistoryInfo:
    id: int
    scheme: str
    user_id: str
    kind: str
    on: date
    from_level: str | None
    to_level: str | None
    growth: int
    downgrade_on: date | None
    actor: str
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scheme": self.scheme,
            "user_id": self.user_id,
            "kind": self.kind,
            "on": self.on.isoformat(),
            "from_level": self.from_level,
            "to_level": self.to_level,
            "growth": self.growth,
            "downgrade_on": self.downgrade_on.isoformat() if self.downgrade_on else None,
            "actor": self.actor,
            "reason": self.reason,
        }


def history(engine: Engine, *, user_id: str, scheme: str | None = None) -> list[HistoryInfo]:
    """A user's level history, oldest first."""
    with session_scope(engine, read_only=True) as session:
        return _history(session, user_id=user_id, scheme=scheme)


def _history(
    session: Session,
    *,
    user_id: str | None = None,
    scheme: str | None = None,
    unpublished: bool = False,
    limit: int | None = None,
) -> list[HistoryInfo]:
    codes = {i: c for i, c in session.execute(select(Level.id, Level.code))}
    schemes = {i: c for i, c in session.execute(select(LevelScheme.id, LevelScheme.code))}
    statement = select(LevelHistory).order_by(LevelHistory.id)
    if user_id is not None:
        statement = statement.where(LevelHistory.user_id == user_id)
    if scheme is not None:
        statement = statement.where(LevelHistory.scheme_id == _scheme_row(session, scheme).id)
    if unpublished:
        statement = statement.where(LevelHistory.published_at.is_(None))
    if limit is not None:
        statement = statement.limit(limit)
    return [
        HistoryInfo(
            id=h.id,
            scheme=schemes[h.scheme_id],
            user_id=h.user_id,
            kind=h.kind,
            on=h.on_day,
            from_level=codes.get(h.from_level_id) if h.from_level_id else None,
            to_level=codes.get(h.to_level_id) if h.to_level_id else None,
            growth=h.growth,
            downgrade_on=h.downgrade_on,
            actor=h.actor,
            reason=h.reason,
        )
        for h in session.scalars(statement)
    ]


def levels_on(session: Session, *, scheme_id: int, day: date) -> dict[str, int | None]:
    """Each user's level (id) at the end of local day `day`, from the history."""
    last = (
        select(
            LevelHistory.user_id,
            LevelHistory.to_level_id,
            func.row_number()
            .over(
                partition_by=LevelHistory.user_id,
                order_by=(LevelHistory.on_day.desc(), LevelHistory.id.desc()),
            )
            .label("nth"),
        )
        .where(
            LevelHistory.scheme_id == scheme_id,
            LevelHistory.on_day <= day,
            LevelHistory.kind.in_(("upgrade", "downgrade", "assigned", "unassigned")),
        )
        .subquery()
    )
    rows = session.execute(select(last.c.user_id, last.c.to_level_id).where(last.c.nth == 1))
    return {user: level for user, level in rows}


# Level events in the warehouse ------------------------------------------------------------


def event_time(day: date, tz: tzinfo) -> datetime:
    """Level steps of day D are stamped at the last millisecond of D (after its events)."""
    return local_midnight(day + timedelta(days=1), tz) - timedelta(milliseconds=1)


def publish_level_events(
    engine: Engine, wh: Warehouse, *, tz: tzinfo = DEFAULT_TZ, batch: int = 50_000
) -> int:
    """Write every unpublished history step to the warehouse as an event; the number written.

    Events: `level_<kind>` (level_upgrade, level_downgrade, level_notice, level_keep_started,
    level_keep_cleared, level_assigned, level_unassigned), message id `lvl-<history id>`.
    """
    published = 0
    while True:
        with session_scope(engine, read_only=True) as session:
            steps = _history(session, unpublished=True, limit=batch)
        if not steps:
            return published
        table = pa.table(
            {
                "message_id": [f"lvl-{s.id}" for s in steps],
                "type": ["track"] * len(steps),
                "event": [f"level_{s.kind}" for s in steps],
                "user_id": [s.user_id for s in steps],
                "timestamp": [event_time(s.on, tz).isoformat() for s in steps],
                "properties": [
                    orjson.dumps(
                        {
                            "scheme": s.scheme,
                            "from_level": s.from_level,
                            "to_level": s.to_level,
                            "growth": s.growth,
                            "downgrade_on": s.downgrade_on.isoformat() if s.downgrade_on else None,
                            "actor": s.actor,
                        }
                    ).decode()
                    for s in steps
                ],
            }
        )
        import_table(wh, "events", table, source="levels")
        with session_scope(engine) as session:
            now = utcnow()
            for part in ledger.chunks([s.id for s in steps]):
                rows = session.scalars(select(LevelHistory).where(LevelHistory.id.in_(part)))
                for row in rows:
                    row.published_at = now
        published += len(steps)


# Reports ---------------------------------------------------------------------------------


def distribution(engine: Engine, *, scheme: str, on: date) -> list[dict[str, Any]]:
    """Users per level at the end of day `on` (from the history), lowest level first."""
    check_day(on, "the day")
    with session_scope(engine, read_only=True) as session:
        info = _scheme_info(session, _scheme_row(session, scheme))
        counts = Counter(levels_on(session, scheme_id=info.id, day=on).values())
    rows = [
        {"level": lv.code, "name": lv.name, "users": counts.get(lv.id, 0)} for lv in info.levels
    ]
    if counts.get(None):
        rows.insert(0, {"level": None, "name": None, "users": counts[None]})
    return rows


def migration(engine: Engine, *, scheme: str, start: date, end: date) -> list[dict[str, Any]]:
    """How many users moved from each level at the end of `start` to each level at the end of
    `end` (None: no level yet), one row per (from, to) pair with users."""
    check_day(start, "the migration's first day")
    check_day(end, "the migration's last day")
    if end < start:
        raise InputError("the end of a migration comes after its start")
    with session_scope(engine, read_only=True) as session:
        info = _scheme_info(session, _scheme_row(session, scheme))
        before = levels_on(session, scheme_id=info.id, day=start)
        after = levels_on(session, scheme_id=info.id, day=end)
    codes: dict[int | None, str | None] = {lv.id: lv.code for lv in info.levels}
    codes[None] = None
    pairs = Counter((codes[before.get(u)], codes[after.get(u)]) for u in set(before) | set(after))
    return [
        {"from": a, "to": b, "users": n}
        for (a, b), n in sorted(pairs.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]


def users_on_level(session: Session, *, scheme_id: int) -> dict[str, int | None]:
    rows = session.execute(
        select(MemberLevel.user_id, MemberLevel.level_id).where(
            MemberLevel.scheme_id == scheme_id,
            or_(MemberLevel.level_id.is_not(None), MemberLevel.assigned.is_(True)),
        )
    )
    return {user: level for user, level in rows}
