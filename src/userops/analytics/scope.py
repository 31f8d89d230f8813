"""What a metric looks at: the events that pass its filters, the users that pass its trait
filters, and each user's breakdown group.

Every metric builds on two steps, both set-based so they stay cheap on tens of millions of
events: `scoped_events` (resolved events of the chosen event name and properties, within the
days asked), then `in_scope` on a much smaller table keyed by user (often distinct (uid, day)
pairs), which adds the column `grp` (the user's breakdown value, null without a breakdown) and
keeps only users whose traits pass.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source, day_start, local_date, resolved_events
from userops.analytics.filters import (
    NO_FILTERS,
    Filters,
    breakdown_value,
    missing_user_matches,
    property_match,
    trait_match,
)
from userops.analytics.localday import local_day
from userops.errors import InputError

GROUP = "grp"


def scoped_events(
    wh: Source,
    filters: Filters = NO_FILTERS,
    *,
    event: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> ir.Table:
    """Resolved events (`uid`, `day`) of `event` (any when None) passing the property filters."""
    ev = resolved_events(wh)
    conditions = []
    if event is not None:
        if not event.strip():
            raise InputError("the event name is empty")
        conditions.append(ev.event == event)
    # Local days as a range of instants on the raw column: no time zone conversion per row,
    # and the engine can skip data by its sort key.
    instant = dt.Timestamp(timezone="UTC", scale=6)
    if since is not None:
        conditions.append(ev.timestamp >= ibis.literal(day_start(wh.timezone, since), instant))
    if until is not None:
        after = day_start(wh.timezone, until + timedelta(days=1))
        conditions.append(ev.timestamp < ibis.literal(after, instant))
    match = property_match(ev, filters, wh.engine)
    if match is not None:
        conditions.append(match)
    scoped = ev.filter(*conditions) if conditions else ev
    return scoped.mutate(day=local_day(wh, scoped.timestamp, since=since, until=until))


def activity(
    wh: Source,
    filters: Filters = NO_FILTERS,
    *,
    event: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> ir.Table:
    """Distinct (uid, day): who was active on which local day."""
    ev = scoped_events(wh, filters, event=event, since=since, until=until)
    return ev.select("uid", "day").distinct()


def in_scope(
    wh: Source, table: ir.Table, filters: Filters, by: str | None, *, key: str = "uid"
) -> ir.Table:
    """`table` plus `grp`, keeping the rows whose user (`table[key]`) passes the trait filters.

    A uid without a `users` row (an anonymous visitor) has every trait unset: it passes `!=`,
    `not in` and `is not set` filters only, and its group is null.
    """
    if not filters.traits and by is None:
        return table.mutate(**{GROUP: ibis.null(dt.string)})
    users = wh.table("users")
    match = trait_match(users, filters, wh.engine)
    group = breakdown_value(users, by, wh.engine) if by is not None else ibis.null(dt.string)
    traits = users.select(
        __user=users.user_id,
        __known=ibis.literal(1),
        __match=match if match is not None else ibis.literal(True),
        __grp=group,
    )
    joined = table.left_join(traits, table[key] == traits["__user"])
    # Test a marker rather than NULLs: ClickHouse fills the unmatched side of a LEFT JOIN with
    # default values ('' and 0) unless join_use_nulls is set.
    marked = joined.select(
        *[joined[c] for c in table.columns],
        __known=(joined["__known"] == 1).fill_null(False),
        __match=joined["__match"],
        __grp=joined["__grp"],
    )
    default = ibis.literal(missing_user_matches(filters))
    kept = marked.filter(ibis.ifelse(marked["__known"], marked["__match"], default))
    return kept.select(
        *[kept[c] for c in table.columns],
        **{GROUP: ibis.ifelse(kept["__known"], kept["__grp"], ibis.null(dt.string))},
    )


def signups(wh: Source, filters: Filters, by: str | None, *, since: date, until: date) -> ir.Table:
    """Users who signed up (`created_at`, local day) within the days: uid, created_at, day, grp.

    Only trait filters apply: a signup is not an event.
    """
    users = wh.table("users")
    day = local_date(wh, users.created_at)
    signed = users.filter(users.created_at.notnull(), day >= since, day <= until)
    match = trait_match(signed, filters, wh.engine)
    if match is not None:
        signed = signed.filter(match)
    group = breakdown_value(signed, by, wh.engine) if by is not None else ibis.null(dt.string)
    return signed.select(
        uid=signed.user_id,
        created_at=signed.created_at,
        day=local_date(wh, signed.created_at),
        **{GROUP: group},
    )
