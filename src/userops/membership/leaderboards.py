"""Leaderboards (排行榜): periodic rankings of a metric, stored per period, apart from levels.

`compute(code, day)` ranks the period (day, week, month or year, in local days) containing
`day` and replaces that period's stored standings; run it during the period to show live
standings and once after it ends to fix them (the `top_rank` badges read finished periods).
Metrics: points earned (earn entries less the reversals of them, in the period), growth value
earned, a count of event E, or revenue (in cents) of event E (default `purchase`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, aliased

from userops.domain.bounds import check_day
from userops.domain.membership import leaderboards as rules
from userops.domain.membership.periods import PeriodKind, period_bounds, period_start
from userops.errors import InputError
from userops.membership.points import DEFAULT_TZ
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import (
    BOARD_PERIOD_NAMES,
    GrowthEntry,
    Leaderboard,
    LeaderboardEntry,
    PointsEntry,
)
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse

WAREHOUSE_METRICS = frozenset({"event_count", "revenue"})


@dataclass(frozen=True, slots=True)
class BoardInfo:
    id: int
    code: str
    name: str
    metric: str
    event: str | None
    period: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "metric": self.metric,
            "event": self.event,
            "period": self.period,
            "size": self.size,
        }


def _info(row: Leaderboard) -> BoardInfo:
    return BoardInfo(row.id, row.code, row.name, row.metric, row.event, row.period, row.size)


def create_leaderboard(
    engine: Engine,
    *,
    code: str,
    name: str,
    metric: str,
    period: str = "month",
    size: int = 100,
    event: str | None = None,
    actor: str = "system",
) -> BoardInfo:
    if metric not in rules.BOARD_METRICS:
        raise InputError(f"metric {metric!r} is not one of {', '.join(rules.BOARD_METRICS)}")
    if period not in BOARD_PERIOD_NAMES:
        raise InputError(f"period {period!r} is not one of {', '.join(BOARD_PERIOD_NAMES)}")
    if metric == "event_count" and not event:
        raise InputError("an event_count board needs an event (e.g. invite)")
    if not 1 <= size <= 10_000:
        raise InputError("a board keeps 1 to 10000 places")
    with session_scope(engine) as session:
        if session.scalars(select(Leaderboard).where(Leaderboard.code == code)).first():
            raise InputError(f"a leaderboard {code!r} already exists")
        row = Leaderboard(
            code=code,
            name=name or code,
            metric=metric,
            period=period,
            size=size,
            event=event or ("purchase" if metric == "revenue" else None),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="leaderboards.create",
            target=code,
            detail=_info(row).as_json(),
        )
        return _info(row)


def _board(session: Session, code: str) -> Leaderboard:
    row = session.scalars(select(Leaderboard).where(Leaderboard.code == code)).one_or_none()
    if row is None:
        raise InputError(f"no leaderboard {code!r}")
    return row


def list_leaderboards(engine: Engine) -> list[BoardInfo]:
    with session_scope(engine, read_only=True) as session:
        return [_info(r) for r in session.scalars(select(Leaderboard).order_by(Leaderboard.code))]


def _values(
    session: Session, board: Leaderboard, wh: Warehouse | None, day: date, tz: tzinfo
) -> list[tuple[str, int]]:
    period: PeriodKind = board.period  # type: ignore[assignment]
    start, end = period_bounds(day, period, tz)
    if board.metric == "points_earned":
        reversed_entry = aliased(PointsEntry)
        earned = select(PointsEntry.user_id, PointsEntry.amount).where(
            PointsEntry.kind == "earn",
            PointsEntry.effective_at >= start,
            PointsEntry.effective_at < end,
        )
        taken_back = (
            select(PointsEntry.user_id, PointsEntry.amount)
            .join(reversed_entry, reversed_entry.id == PointsEntry.reverses_id)
            .where(
                PointsEntry.kind == "reverse",
                reversed_entry.kind == "earn",
                reversed_entry.effective_at >= start,
                reversed_entry.effective_at < end,
            )
        )
        both = earned.union_all(taken_back).subquery()
        rows = session.execute(
            select(both.c.user_id, func.sum(both.c.amount)).group_by(both.c.user_id)
        )
        return [(u, int(v)) for u, v in rows]
    if board.metric == "growth_earned":
        rows = session.execute(
            select(GrowthEntry.user_id, func.sum(GrowthEntry.amount))
            .where(GrowthEntry.effective_at >= start, GrowthEntry.effective_at < end)
            .group_by(GrowthEntry.user_id)
        )
        return [(u, int(v)) for u, v in rows]
    if wh is None:
        raise InputError(f"the {board.metric} board {board.code!r} reads the warehouse")
    t = wh.table("events")
    base = t.filter(
        t.event == board.event, t.user_id.notnull(), t.timestamp >= start, t.timestamp < end
    )
    if board.metric == "event_count":
        expr = base.group_by("user_id").aggregate(value=base.count())
    else:
        expr = base.group_by("user_id").aggregate(value=(base.revenue.sum() * 100).cast("int64"))
    table = wh.ibis.to_pyarrow(expr)
    return [
        (u, int(v or 0))
        for u, v in zip(table["user_id"].to_pylist(), table["value"].to_pylist(), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Standings:
    board: BoardInfo
    period_start: date
    entries: tuple[rules.Ranked, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "board": self.board.as_json(),
            "period_start": self.period_start.isoformat(),
            "entries": [
                {"rank": e.rank, "user_id": e.user_id, "value": e.value} for e in self.entries
            ],
        }


def compute(
    engine: Engine, *, code: str, day: date, wh: Warehouse | None = None, tz: tzinfo = DEFAULT_TZ
) -> Standings:
    """Rank the period containing `day` and store it (replacing what was stored for it)."""
    check_day(day, "the leaderboard day")
    with session_scope(engine) as session:
        board = _board(session, code)
        period: PeriodKind = board.period  # type: ignore[assignment]
        first = period_start(day, period)
        ranked = rules.rank(_values(session, board, wh, day, tz), board.size)
        session.execute(
            delete(LeaderboardEntry).where(
                LeaderboardEntry.leaderboard_id == board.id, LeaderboardEntry.period_start == first
            )
        )
        now = utcnow()
        session.add_all(
            LeaderboardEntry(
                leaderboard_id=board.id,
                period_start=first,
                user_id=r.user_id,
                rank=r.rank,
                value=r.value,
                computed_at=now,
            )
            for r in ranked
        )
        return Standings(_info(board), first, ranked)


def standings(engine: Engine, *, code: str, day: date) -> Standings:
    """The stored standings of the period containing `day` (empty until computed)."""
    check_day(day, "the leaderboard day")
    with session_scope(engine, read_only=True) as session:
        board = _board(session, code)
        period: PeriodKind = board.period  # type: ignore[assignment]
        first = period_start(day, period)
        rows = session.scalars(
            select(LeaderboardEntry)
            .where(
                LeaderboardEntry.leaderboard_id == board.id, LeaderboardEntry.period_start == first
            )
            .order_by(LeaderboardEntry.rank, LeaderboardEntry.user_id)
        )
        return Standings(
            _info(board), first, tuple(rules.Ranked(r.rank, r.user_id, r.value) for r in rows)
        )
