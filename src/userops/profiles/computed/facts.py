"""Per-user facts every computed tag is built from.

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

The measures are read from the events summed per key and local day (`computed.daily`: kept in
the warehouse by a refresh, or summed on the fly), resolved to users in one join with the
identities (a linked anonymous id counts as its user, as `analytics.base.resolved_events`
resolves it) and grouped per user: sums, min and max, and the active days as bit sets (one bit
per local day of the window, 62 days per BIGINT word, OR-ed, then counted). Counts of one
event name (grade's `events` measure) are read from the events themselves; invitations from
the invitations summed per sender, invitee and day (`daily.invites`).

Everything is an Ibis expression over a `Source`, so the facts (and every tag built on them)
compile for DuckDB and ClickHouse alike; `tests/conformance/test_tags.py` runs both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source, day_start, resolved_events
from userops.analytics.localday import local_day
from userops.profiles.computed.daily import current as daily_current
from userops.profiles.computed.daily import daily, invites

NeedKind = Literal["orders", "revenue", "active_days", "events", "invites", "invitees"]
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


def invitations(source: Source, today: date, needs: list[Need], sent: ir.Table) -> ir.Table:
    """sender, and per invitation need: invite events a user sent (with their own user_id,
    never anonymously) and the distinct non-empty `properties.invitee` they name, from the
    invitations summed per sender, invitee and day (`daily.invites`)."""
    sent = sent.filter(sent.day <= ibis.literal(today))
    measures: dict[str, ir.Value] = {}
    for need in needs:
        inside = _inside_days(sent.day, need, today)
        if need.kind == "invites":
            measures[need.column] = sent.invites.sum(where=inside)
        else:
            measures[need.column] = sent.invitee.nunique(where=inside & (sent.invitee != ""))
    return sent.group_by(sender="user_id").aggregate(**measures)


def _first_day(need: Need, end_day: date) -> date:
    return end_day - timedelta(days=(need.days or 1) - 1)


def _inside(source: Source, ts: ir.TimestampValue, need: Need, today: date) -> ir.BooleanValue:
    """`ts` falls in the need's window (the facts read nothing after `today` anyway)."""
    if need.days is None:
        return ibis.literal(True)
    return ts >= instant(source, _first_day(need, today))


WORD_DAYS: Final = 62  # days per activity word: bits 0..61 of a BIGINT, never its sign
_M1, _M2, _M4 = 0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F


def _words(need: Need) -> int:
    return -(-(need.days or 1) // WORD_DAYS)


def _word_column(need: Need, k: int) -> str:
    return f"_{need.column}_w{k}"


def _partials(
    source: Source, rows: ir.Table, wanted: list[Need], today: date
) -> dict[str, ir.Value]:
    """Per-uid measures over the daily rows (`daily`): sums of counts and money, min and max of
    times, OR of activity words (a word is one bit per local day of an activity window, so a
    day kept in several rows counts once)."""
    out: dict[str, ir.Value] = {
        "first_at": rows.first_at.min(),
        "last_at": rows.last_at.max(),
        "orders": rows.orders.sum(),
        "revenue": rows.revenue.sum(),
        "last_order_at": rows.last_order_at.max(),
    }
    one = ibis.literal(1).cast(dt.int64)  # typed in the SQL: ClickHouse's bare 1 is a UInt8
    for need in wanted:
        inside = _inside_days(rows.day, need, today)
        if need.kind == "orders":
            out[need.column] = rows.orders.sum(where=inside)
        elif need.kind == "revenue":
            out[need.column] = rows.revenue.sum(where=inside)
        elif need.kind == "active_days":
            offset = rows.day.delta(ibis.literal(_first_day(need, today)), unit="day")
            for k in range(_words(need)):
                lo = k * WORD_DAYS
                here = inside  # a row inside the window is on one of its days: offset 0..days-1
                if _words(need) > 1:
                    here = inside & (offset >= lo) & (offset < lo + WORD_DAYS)
                shift = offset - lo
                if source.engine == "clickhouse":  # it evaluates both branches of an if
                    shift = ibis.greatest(ibis.least(shift, WORD_DAYS - 1), 0)
                out[_word_column(need, k)] = ibis.ifelse(here, one << shift, 0).bit_or()
    return out


def _inside_days(day: ir.DateValue, need: Need, today: date) -> ir.BooleanValue:
    if need.days is None:
        return ibis.literal(True)
    return day >= ibis.literal(_first_day(need, today))


def _popcount(x: ir.IntegerValue) -> ir.IntegerValue:
    """Set bits of a non-negative BIGINT, in portable integer arithmetic."""
    x = x - ((x >> 1) & _M1)
    x = (x & _M2) + ((x >> 2) & _M2)
    x = (x + (x >> 4)) & _M4
    x = x + (x >> 8)
    x = x + (x >> 16)
    x = x + (x >> 32)
    return x & 0x7F


def per_uid(source: Source, days: ir.Table, wanted: list[Need], today: date) -> ir.Table:
    """The measures per `uid` over the daily rows `days` up to `today`, `uid` resolved as
    `resolved_events` resolves it (a linked anonymous id counts as its user), and `id_events`:
    the events that carried the uid as their user_id. One join and one grouping: the rows are
    about one per user and active day, far fewer than the events."""
    days = days.filter(days.day <= ibis.literal(today))
    ids = source.table("identities").select("anonymous_id", linked_user="user_id")
    joined = days.left_join(ids, days.anonymous_id == ids.anonymous_id)
    rows = joined.select(
        "day",
        "events",
        "orders",
        "revenue",
        "first_at",
        "last_at",
        "last_order_at",
        named=joined.user_id.notnull(),
        uid=ibis.coalesce(joined.user_id, joined.linked_user, joined.anonymous_id),
    )
    return rows.group_by("uid").aggregate(
        **_partials(source, rows, wanted, today), id_events=rows.events.sum(where=rows.named)
    )


def event_counts(source: Source, needs: list[Need], today: date) -> ir.Table:
    """counter (a uid, resolved as `resolved_events` resolves it), and per need: its events of
    the need's name within its window."""
    end = instant(source, today + timedelta(days=1))
    events = resolved_events(source)
    names = sorted({str(n.event) for n in needs})
    events = events.filter(events.event.isin(names), events.timestamp < end)
    measures = {
        need.column: events.count(
            where=(events.event == need.event) & _inside(source, events.timestamp, need, today)
        )
        for need in needs
    }
    counts = events.group_by("uid").aggregate(**measures)
    return counts.select(counter="uid", **{n.column: counts[n.column] for n in needs})


def user_facts(
    source: Source,
    needs: Iterable[Need],
    *,
    today: date,
    days: ir.Table | None = None,
    sent: ir.Table | None = None,
) -> ir.Table:
    """The facts as of local day `today` (the module's docstring). `days` and `sent`: the
    events and the invitations summed per day (`daily.daily`, `daily.invites`), as kept in
    the warehouse (`daily.kept`); by default the kept ones when they cover every event
    (`daily.current`), else summed here."""
    if days is None and sent is None:
        days, sent = daily_current(source) or (None, None)
    end = instant(source, today + timedelta(days=1))
    events = source.table("events")
    events = events.filter(events.timestamp < end)
    if days is None:
        days = daily(source, events, until=today)
    if sent is None:
        sent = invites(source, events, until=today)
    wanted = sorted(set(needs), key=lambda n: n.column)
    day_needs = [n for n in wanted if n.kind in {"orders", "revenue", "active_days"}]
    uids = per_uid(source, days, day_needs, today)
    count_needs = [n for n in wanted if n.kind == "events"]
    if count_needs:
        counts = event_counts(source, count_needs, today)
        uids = uids.left_join(counts, uids.uid == counts.counter).drop("counter")
    invite_needs = [n for n in wanted if n.kind in {"invites", "invitees"}]
    if invite_needs:
        counted = invitations(source, today, invite_needs, sent)
        uids = uids.left_join(counted, uids.uid == counted.sender).drop("sender")

    users = source.table("users")
    users = users.filter(users.created_at.isnull() | (users.created_at < end))
    users = users.select("user_id", "created_at", "channel", in_users=ibis.literal(True))
    joined = uids.outer_join(users, uids.uid == users.user_id)
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
        if need.kind == "active_days":
            counts = [
                _popcount(joined[_word_column(need, k)].fill_null(zero))
                for k in range(_words(need))
            ]
            columns[need.column] = sum(counts[1:], counts[0])
            continue
        value = joined[need.column]
        columns[need.column] = value if need.kind == "revenue" else value.fill_null(zero)
    known = (
        joined.in_users.notnull() | (joined.id_events.fill_null(zero) > 0) | joined.uid.isin(linked)
    )
    return joined.filter(known).select(**columns)


def money_or_zero(value: ir.Value) -> ir.NumericValue:
    """A revenue sum (null when the user has no order) as a number, 0 for none."""
    return value.fill_null(ibis.literal(0, type=dt.Decimal(38, 2)))
