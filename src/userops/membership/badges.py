"""Badges (勋章): achievement rules evaluated over the warehouse's events, awarded once per tier
with the time they were earned.

`evaluate_badges` can run as often as wanted: an award is unique per (badge, user, tier), so
only new tiers are written. Event badges read the warehouse through Ibis (the matching events of
each user, with the same property filters as incentive rules); streaks count local days (the
warehouse session's time zone); `top_rank` badges read the stored standings of finished
leaderboard periods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from userops.domain.membership import badges as rules
from userops.domain.membership.incentives import Filter, matches
from userops.domain.membership.periods import PeriodKind, local_day, local_midnight, period_end
from userops.errors import InputError
from userops.membership import ledger
from userops.membership.points import DEFAULT_TZ
from userops.membership.rules import parse_filters
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import Badge, BadgeAward, Leaderboard, LeaderboardEntry
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse


@dataclass(frozen=True, slots=True)
class BadgeInfo:
    id: int
    code: str
    name: str
    kind: str
    event: str | None
    filters: tuple[Filter, ...]
    tiers: tuple[rules.Tier, ...]
    leaderboard: str | None
    is_active: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "event": self.event,
            "filters": [f.as_json() for f in self.filters],
            "tiers": [{"threshold": t.threshold, "name": t.name} for t in self.tiers],
            "leaderboard": self.leaderboard,
            "is_active": self.is_active,
        }


def _info(session: Session, row: Badge) -> BadgeInfo:
    board = session.get(Leaderboard, row.leaderboard_id) if row.leaderboard_id else None
    return BadgeInfo(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        event=row.event,
        filters=parse_filters(row.filters or []),
        tiers=tuple(rules.Tier(int(t["threshold"]), str(t["name"])) for t in row.tiers),
        leaderboard=board.code if board else None,
        is_active=row.is_active,
    )


def create_badge(
    engine: Engine,
    *,
    code: str,
    name: str,
    kind: rules.BadgeKind,
    tiers: Sequence[rules.Tier],
    event: str | None = None,
    filters: Sequence[Filter | str | Mapping[str, Any]] = (),
    leaderboard: str | None = None,
    actor: str = "system",
) -> BadgeInfo:
    """A one-time badge has one tier ("first purchase": event_count, tier 1)."""
    ordered = rules.check_tiers(kind, tiers)
    if kind in ("event_count", "streak") and not event:
        raise InputError(f"a {kind} badge needs an event")
    if kind == "top_rank" and not leaderboard:
        raise InputError("a top_rank badge needs a leaderboard")
    with session_scope(engine) as session:
        if session.scalars(select(Badge).where(Badge.code == code)).first():
            raise InputError(f"a badge {code!r} already exists")
        board_id = None
        if leaderboard:
            board = session.scalars(
                select(Leaderboard).where(Leaderboard.code == leaderboard)
            ).one_or_none()
            if board is None:
                raise InputError(f"no leaderboard {leaderboard!r}")
            board_id = board.id
        row = Badge(
            code=code,
            name=name or code,
            kind=kind,
            event=event,
            filters=[f.as_json() for f in parse_filters(filters)],
            tiers=[{"threshold": t.threshold, "name": t.name} for t in ordered],
            leaderboard_id=board_id,
            is_active=True,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        info = _info(session, row)
        append_audit(
            session, actor=actor, action="badges.create", target=code, detail=info.as_json()
        )
        return info


def list_badges(engine: Engine) -> list[BadgeInfo]:
    with session_scope(engine, read_only=True) as session:
        return [_info(session, r) for r in session.scalars(select(Badge).order_by(Badge.code))]


Award = tuple[str, int, str, datetime]  # user, tier, tier name, earned at


def _event_rows(
    wh: Warehouse, event: str, until: datetime | None
) -> dict[str, list[tuple[datetime, dict[str, Any]]]]:
    t = wh.table("events")
    expr = t.filter(t.event == event, t.user_id.notnull(), t.type == "track")
    if until is not None:
        expr = expr.filter(t.timestamp < until)
    table = wh.ibis.to_pyarrow(expr.select("user_id", "timestamp", "properties"))
    found: dict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    for user, at, props in zip(
        table["user_id"].to_pylist(),
        table["timestamp"].to_pylist(),
        table["properties"].to_pylist(),
        strict=True,
    ):
        bag = orjson.loads(props) if isinstance(props, str | bytes) and props else props or {}
        found[user].append((at, bag if isinstance(bag, dict) else {}))
    return found


def _event_awards(
    badge: BadgeInfo, wh: Warehouse, until: datetime | None, tz: tzinfo
) -> list[Award]:
    assert badge.event is not None
    awards: list[Award] = []
    for user, rows in _event_rows(wh, badge.event, until).items():
        times = [at for at, props in rows if matches(badge.filters, props)]
        if badge.kind == "event_count":
            awards += [(user, e.tier, e.name, e.at) for e in rules.count_tiers(badge.tiers, times)]
        else:
            days = [local_day(at, tz) for at in times]
            awards += [
                (user, tier, name, local_midnight(day, tz))
                for tier, name, day in rules.streak_tiers(badge.tiers, days)
            ]
    return awards


def _rank_awards(session: Session, badge: BadgeInfo, today: date, tz: tzinfo) -> list[Award]:
    board = session.scalars(select(Leaderboard).where(Leaderboard.code == badge.leaderboard)).one()
    period: PeriodKind = board.period  # type: ignore[assignment]
    rows = session.scalars(
        select(LeaderboardEntry).where(LeaderboardEntry.leaderboard_id == board.id)
    )
    awards: list[Award] = []
    for row in rows:
        end = period_end(row.period_start, period)
        if end > today:
            continue  # the period is not over: its standings may still change
        for tier, name in rules.rank_tiers(badge.tiers, row.rank):
            awards.append((row.user_id, tier, name, local_midnight(end, tz)))
    return awards


@dataclass
class BadgeRun:
    awarded: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"awarded": self.awarded, "total": sum(self.awarded.values())}


def evaluate_badges(
    engine: Engine,
    wh: Warehouse | None,
    *,
    tz: tzinfo = DEFAULT_TZ,
    until: datetime | None = None,
    today: date | None = None,
) -> BadgeRun:
    """Award every tier reached by now (or `until`) that is not awarded yet."""
    run = BadgeRun()
    day = today or local_day(until or utcnow(), tz)
    for badge in list_badges(engine):
        if not badge.is_active:
            continue
        with session_scope(engine) as session:
            if badge.kind == "top_rank":
                awards = _rank_awards(session, badge, day, tz)
            else:
                if wh is None:
                    raise InputError(f"badge {badge.code!r} reads the warehouse's events")
                awards = _event_awards(badge, wh, until, tz)
            run.awarded[badge.code] = _store(session, badge, awards)
    return run


def _store(session: Session, badge: BadgeInfo, awards: list[Award]) -> int:
    if not awards:
        return 0
    known = set(
        session.execute(
            select(BadgeAward.user_id, BadgeAward.tier).where(BadgeAward.badge_id == badge.id)
        ).all()
    )
    fresh = [a for a in awards if (a[0], a[1]) not in known]
    if not fresh:
        return 0
    now = utcnow()
    statement = ledger.insert_for(session, ledger.table_of(BadgeAward)).on_conflict_do_nothing()
    for part in ledger.chunks(fresh, 5000):
        session.execute(
            statement,
            [
                {
                    "badge_id": badge.id,
                    "user_id": user,
                    "tier": tier,
                    "tier_name": name,
                    "earned_at": at,
                    "awarded_at": now,
                }
                for user, tier, name, at in part
            ],
        )
    return len(fresh)


def user_badges(engine: Engine, *, user_id: str) -> list[dict[str, Any]]:
    """A user's badges, the highest tier of each, with when it was earned."""
    with session_scope(engine, read_only=True) as session:
        rows = session.execute(
            select(
                Badge.code, Badge.name, BadgeAward.tier, BadgeAward.tier_name, BadgeAward.earned_at
            )
            .join(Badge, Badge.id == BadgeAward.badge_id)
            .where(BadgeAward.user_id == user_id)
            .order_by(Badge.code, BadgeAward.tier)
        ).all()
    best: dict[str, dict[str, Any]] = {}
    for code, name, tier, tier_name, earned in rows:
        best[code] = {
            "badge": code,
            "name": name,
            "tier": tier,
            "tier_name": tier_name,
            "earned_at": earned.isoformat(),
        }
    return list(best.values())
