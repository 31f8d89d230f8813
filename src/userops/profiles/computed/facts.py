"""Per-user facts every computed tag is built from, in one pass over the events.

`user_facts(source, needs, today=D)` is one row per **known user as of D**:

- a user id in the `users` table whose `created_at` is before the end of local day D (or unset),
- or the user of an event before the end of D (`resolved_events`: a linked anonymous id counts
  as its user) when that user is known by id: an event carried the id as `user_id`, or an
  identity links an anonymous id to it. Anonymous visitors who never signed in are not users.

Columns: `user_id`, `created_at`, `channel` (from `users`), `first_at`, `last_at` (first and last
event), `orders` and `revenue` (all orders up to D: an order is an event with revenue above 0,
as in the revenue metrics), `last_order_at`, plus one column per `Need`: orders, revenue,
active days (distinct local days with any event) or events of one name within the last N local
days ending on D, and invitations sent and distinct invitees (an `invite` event carrying the
sender's user_id; `properties.invitee` names who joined). docs/models.md defines the tags.

Everything is an Ibis expression over a `Source`, so the facts (and every tag built on them)
compile for DuckDB and ClickHouse alike; `tests/conformance/test_tags.py` runs both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source, day_start, epoch_micros
from userops.analytics.filters import JsonField
from userops.analytics.localday import DAY_US, local_day, offset_segments

NeedKind = Literal["orders", "revenue", "active_days", "events", "invites", "invitees"]
INVITE_EVENT = "invite"
INSTANT = dt.Timestamp(timezone="UTC", scale=6)


@dataclass(frozen=True, order=True, slots=True)
class Need:
    """One per-user measure a tag needs: over the `days` local days ending on D (`None`: all
    history up to D)."""

    kind: NeedKind
    days: int | None
    event: str | None = None

    @property
    def column(self) -> str:
        span = "all" if self.days is None else f"{self.days}d"
        if self.kind == "events":
            digest = hashlib.sha1(str(self.event).encode()).hexdigest()[:10]
            return f"events_{digest}_{span}"
        return f"{self.kind}_{span}"


def instant(source: Source, day: date) -> ir.TimestampScalar:
    """The first instant of local day `day`, as a literal the engine compares raw timestamps to."""
    return ibis.literal(day_start(source.timezone, day), type=INSTANT)


def day_number(source: Source, ts: ir.TimestampValue, today: date) -> ir.DateValue:
    """The local day of `ts` (any instant up to the end of `today`)."""
    return local_day(source, ts, since=None, until=today)


def days_before(source: Source, ts: ir.TimestampValue, today: date) -> ir.IntegerValue:
    """Whole local days from the local day of `ts` to `today` (0 when it is today)."""
    return ibis.literal(today).delta(day_number(source, ts, today), unit="day")


def resolved(source: Source, end: ir.TimestampScalar) -> ir.Table:
    """Events before `end` with `uid`, resolved as `analytics.base.resolved_events` resolves
    them (user_id, else the user the anonymous id is linked to, else the anonymous id), but only
    the events without a user_id go through the identities join: the facts read every event,
    and most carry their user_id."""
    events = source.table("events")
    events = events.filter(events.timestamp < end)
    columns = ("timestamp", "revenue", "event")
    named = events.filter(events.user_id.notnull())
    named = named.select(*columns, uid=named.user_id, has_id=ibis.literal(True))
    anonymous = events.filter(events.user_id.isnull())
    ids = source.table("identities").select("anonymous_id", linked_user="user_id")
    joined = anonymous.left_join(ids, anonymous.anonymous_id == ids.anonymous_id)
    linked = joined.select(
        *[joined[c] for c in columns],
        uid=ibis.coalesce(joined.linked_user, joined.anonymous_id),
        has_id=ibis.literal(False),
    )
    return named.cast(linked.schema()).union(linked, distinct=False)


def invitations(source: Source, today: date, needs: list[Need]) -> ir.Table:
    """sender, and per invitation need: invite events a user sent (with their own user_id,
    never anonymously) and the distinct non-empty `properties.invitee` they name."""
    events = source.table("events")
    end = instant(source, today + timedelta(days=1))
    sent = events.filter(
        events.event == INVITE_EVENT, events.user_id.notnull(), events.timestamp < end
    )
    invitee = JsonField(sent.properties, "invitee", source.engine).string()
    sent = sent.select(sender=sent.user_id, timestamp=sent.timestamp, invitee=invitee)
    measures: dict[str, ir.Value] = {}
    for need in needs:
        inside = _inside(source, sent.timestamp, need, today)
        if need.kind == "invites":
            measures[need.column] = sent.count(where=inside)
        else:
            measures[need.column] = sent.invitee.nunique(where=inside & (sent.invitee != ""))
    return sent.group_by("sender").aggregate(**measures)


def _first_day(need: Need, end_day: date) -> date:
    return end_day - timedelta(days=(need.days or 1) - 1)


def _inside(source: Source, ts: ir.TimestampValue, need: Need, today: date) -> ir.BooleanValue:
    """`ts` falls in the need's window (the facts read nothing after `today` anyway)."""
    if need.days is None:
        return ibis.literal(True)
    return ts >= instant(source, _first_day(need, today))


def local_day_number(
    source: Source, ts: ir.TimestampValue, *, first: date, today: date
) -> ir.IntegerValue:
    """The local day of `ts` as days since 1970-01-01, exact for instants of local days
    first..today: integer arithmetic on epoch microseconds with the zone's offsets over those
    days (analytics.localday), far cheaper per event than a DATE, counted distinct or not."""
    segments = offset_segments(source.timezone, first, today)
    micros = epoch_micros(source, ts)
    if len(segments) == 1:
        return (micros + segments[0][2]) // DAY_US
    return ibis.cases(
        *[((micros >= s) & (micros < e), (micros + off) // DAY_US) for s, e, off in segments],
        else_=ibis.null(dt.int64),
    )


def user_facts(source: Source, needs: Iterable[Need], *, today: date) -> ir.Table:
    end = instant(source, today + timedelta(days=1))
    wanted = sorted(set(needs), key=lambda n: n.column)
    ev = resolved(source, end)
    paid = ev.revenue > 0
    measures: dict[str, ir.Value] = {
        "first_at": ev.timestamp.min(),
        "last_at": ev.timestamp.max(),
        "orders": ev.count(where=paid),
        "revenue": ev.revenue.sum(where=paid),
        "last_order_at": ev.timestamp.max(where=paid),
        "id_events": ev.count(where=ev.has_id),
    }
    for need in wanted:
        first = _first_day(need, today)
        inside = _inside(source, ev.timestamp, need, today)
        if need.kind == "orders":
            measures[need.column] = ev.count(where=paid & inside)
        elif need.kind == "revenue":
            measures[need.column] = ev.revenue.sum(where=paid & inside)
        elif need.kind == "events":
            measures[need.column] = ev.count(where=(ev.event == need.event) & inside)
        elif need.kind == "active_days":
            day = local_day_number(source, ev.timestamp, first=first, today=today)
            measures[need.column] = day.nunique(where=inside)
    per_uid = ev.group_by("uid").aggregate(**measures)
    invite_needs = [n for n in wanted if n.kind in {"invites", "invitees"}]
    if invite_needs:
        sent = invitations(source, today, invite_needs)
        per_uid = per_uid.left_join(sent, per_uid.uid == sent.sender).drop("sender")

    users = source.table("users")
    users = users.filter(users.created_at.isnull() | (users.created_at < end))
    users = users.select("user_id", "created_at", "channel", in_users=ibis.literal(True))
    joined = per_uid.outer_join(users, per_uid.uid == users.user_id)
    linked = source.table("identities").user_id
    uid = ibis.coalesce(joined.user_id, joined.uid)
    zero = ibis.literal(0, type=dt.int64)
    columns: dict[str, ir.Value] = {
        "user_id": uid,
        "created_at": joined.created_at,
        "channel": joined.channel,
        "first_at": joined.first_at,
        "last_at": joined.last_at,
        "orders": joined.orders.fill_null(zero),
        "revenue": joined.revenue,
        "last_order_at": joined.last_order_at,
    }
    for need in wanted:
        value = joined[need.column]
        columns[need.column] = value if need.kind == "revenue" else value.fill_null(zero)
    known = (
        joined.in_users.notnull() | (joined.id_events.fill_null(zero) > 0) | joined.uid.isin(linked)
    )
    return joined.filter(known).select(**columns)


def money_or_zero(value: ir.Value) -> ir.NumericValue:
    """A revenue sum (null when the user has no order) as a number, 0 for none."""
    return value.fill_null(ibis.literal(0, type=dt.Decimal(38, 2)))
