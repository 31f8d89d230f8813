"""Member tags for profiles (会员标签): level, loyalty, participation in activities, join path
and self-propagation, one row per user, ready for the profiles' tag values.

- `level_<scheme>`: the user's level code in each active scheme (None: no level);
- `loyalty`: from the first day the user earned points or growth value: `new` (under 90 days),
  `regular` (under a year), `loyal` (a year or more);
- `participation`: distinct incentive rules the user triggered in the last 90 days (a count)
  and `participation_level`: `none`, `low` (1-2), `high` (3 or more);
- `join_path`: the acquisition channel and sub-source from the warehouse's users table
  (`referral/invite_link`), when a warehouse is given;
- `invites` and `invitees`: invite events sent, and distinct invitees named by them (users who
  joined through the user), and `self_propagation`: `none`, `some` (1-2 invitees), `strong`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from userops.domain.membership.periods import local_day, local_midnight
from userops.membership.points import DEFAULT_TZ
from userops.store.db import session_scope
from userops.store.models import (
    GrowthEntry,
    Level,
    LevelScheme,
    MemberLevel,
    PointsEntry,
    RuleApplication,
)
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse


def _loyalty(first: datetime | None, today: date, tz: tzinfo) -> str | None:
    if first is None:
        return None
    days = (today - local_day(first, tz)).days
    return "new" if days < 90 else "regular" if days < 365 else "loyal"


def member_tags(
    engine: Engine,
    wh: Warehouse | None = None,
    *,
    at: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> list[dict[str, Any]]:
    """The member tags of every user the growth system knows, sorted by user id."""
    now = at or utcnow()
    today = local_day(now, tz)
    tags: dict[str, dict[str, Any]] = defaultdict(dict)
    with session_scope(engine, read_only=True) as session:
        schemes = list(
            session.execute(
                select(LevelScheme.id, LevelScheme.code).where(LevelScheme.is_active.is_(True))
            ).all()
        )
        codes = {i: c for i, c in session.execute(select(Level.id, Level.code))}
        for user, scheme_id, level_id in session.execute(
            select(MemberLevel.user_id, MemberLevel.scheme_id, MemberLevel.level_id)
        ):
            scheme = dict(schemes).get(scheme_id)
            if scheme is not None:
                tags[user][f"level_{scheme}"] = codes.get(level_id) if level_id else None
        firsts: dict[str, datetime] = {}
        for table in (PointsEntry, GrowthEntry):
            for user, first in session.execute(
                select(table.user_id, func.min(table.effective_at)).group_by(table.user_id)
            ):
                if user not in firsts or first < firsts[user]:
                    firsts[user] = first
        since = local_midnight(today - timedelta(days=89), tz)
        active = dict(
            session.execute(
                select(RuleApplication.user_id, func.count(RuleApplication.rule_id.distinct()))
                .where(RuleApplication.event_at >= since, RuleApplication.event_at <= now)
                .group_by(RuleApplication.user_id)
            ).all()
        )
    for user, first in firsts.items():
        tags[user]["loyalty"] = _loyalty(first, today, tz)
    for user in tags:
        count = int(active.get(user, 0))
        tags[user]["participation"] = count
        tags[user]["participation_level"] = "none" if not count else "low" if count < 3 else "high"
        for _, code in schemes:
            tags[user].setdefault(f"level_{code}", None)
    if wh is not None:
        _warehouse_tags(wh, tags, now)
    return [{"user_id": user, **values} for user, values in sorted(tags.items())]


def _warehouse_tags(wh: Warehouse, tags: dict[str, dict[str, Any]], now: datetime) -> None:
    users = wh.table("users")
    table = wh.ibis.to_pyarrow(users.select("user_id", "channel", "traits"))
    for user, channel, traits in zip(
        table["user_id"].to_pylist(),
        table["channel"].to_pylist(),
        table["traits"].to_pylist(),
        strict=True,
    ):
        bag = orjson.loads(traits) if isinstance(traits, str | bytes) and traits else {}
        detail = bag.get("register_source_detail") if isinstance(bag, dict) else None
        path = "/".join(p for p in (channel, detail) if p) or None
        if user in tags or path:
            tags[user]["join_path"] = path
    events = wh.table("events")
    invites = events.filter(
        events.event == "invite", events.user_id.notnull(), events.timestamp <= now
    )
    table = wh.ibis.to_pyarrow(invites.select("user_id", "properties"))
    sent: dict[str, int] = defaultdict(int)
    joined: dict[str, set[str]] = defaultdict(set)
    for user, props in zip(
        table["user_id"].to_pylist(), table["properties"].to_pylist(), strict=True
    ):
        sent[user] += 1
        bag = orjson.loads(props) if isinstance(props, str | bytes) and props else {}
        invitee = bag.get("invitee") if isinstance(bag, dict) else None
        if invitee:
            joined[user].add(str(invitee))
    for user in set(tags) | set(sent):
        count = len(joined.get(user, ()))
        tags[user]["invites"] = sent.get(user, 0)
        tags[user]["invitees"] = count
        tags[user]["self_propagation"] = "none" if not count else "some" if count < 3 else "strong"
        tags[user].setdefault("join_path", None)
