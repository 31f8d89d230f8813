"""The events summed per key and local day: what the per-user facts (`facts.user_facts`) read.

One row of `daily(source, events)` holds the events of one key on one local day of the
warehouse's time zone: the key is the event's `user_id`, or its `anonymous_id` when it carries
no user_id (then `user_id` is null). Columns: `user_id`, `anonymous_id`, `day`, `events`,
`orders` and `revenue` (events with revenue above 0, and their revenue: null when none),
`first_at`, `last_at`, `last_order_at`. Anonymous ids are resolved to their users when the facts
are read, so a new identity link never rewrites a row.

Every measure the facts take from the events combines over such rows (sums, min, max; the
active days are the rows' days), and the windows of the facts are whole local days, so the
facts computed from the rows equal the facts computed from the events. A user has about one
row per active day: 1.8M rows for 11.6M demo events (250k users, 90 days).
Rows are written in the order of the users they resolve to at the time (an anonymous id's rows
beside its user's), which the facts' grouping reads fastest.

`invites(source, events)` does the same for the invitations the member tags count: `invite`
events carrying a user_id, counted per sender, invitee (`properties.invitee`) and local day.

**Kept in the DuckDB warehouse** (`kept(wh)`, docs/decisions/0009) as `user_days` and
`user_invites`, append-only ledgers of partial sums, and `user_days_state`, what they cover: the
events' count and latest `received_at`, the time zone, the rows of its last full build. When
the only change since is new events stamped after that `received_at` (every insert stamps it;
events are only ever appended), their sums are appended: a key's day may then have several
rows, which the facts combine like any other. Anything else (rows deleted or stamped out of
order, another time zone, a layout version) rebuilds it, in one transaction; so does growth
past `COMPACT_GROWTH` times the last build's rows, which folds the appended parts together.
Each change is one transaction with its state row: a process killed at any moment leaves the
rollup and its state as they were or as they became.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.analytics.filters import JsonField
from userops.analytics.localday import local_day
from userops.warehouse import schema, stamps
from userops.warehouse.connection import Warehouse
from userops.warehouse.transactions import transaction

LAYOUT: Final = 2  # bump when the rows' meaning changes: a kept rollup is then rebuilt
# 2: user_invites
COMPACT_GROWTH: Final = 1.5  # appended rows beyond this share of the last build: rebuild
AHEAD_DAYS: Final = 2  # local days past today the fast day arithmetic covers (clock skew)

USER_DAYS: Final = schema.Table(
    name="user_days",
    doc="The events summed per key (user_id, else anonymous_id) and local day, for the tags' "
    "per-user facts; derived from `events`, rebuilt at will (profiles/computed/daily.py).",
    columns=(
        schema.Column("user_id", "string", doc="The events' user_id (null: anonymous)."),
        schema.Column("anonymous_id", "string", doc="The events' anonymous_id, when no user_id."),
        schema.Column("day", "date", False, "Local day in the warehouse's time zone."),
        schema.Column("events", "int", False),
        schema.Column("orders", "int", False, "Events with revenue above 0."),
        schema.Column("revenue", "money", doc="Their revenue (null: no order that day)."),
        schema.Column("first_at", "timestamp", False),
        schema.Column("last_at", "timestamp", False),
        schema.Column("last_order_at", "timestamp"),
    ),
)
USER_DAYS_STATE: Final = schema.Table(
    name="user_days_state",
    doc="What `user_days` covers (one row).",
    columns=(
        schema.Column("layout", "int", False),
        schema.Column("timezone", "string", False),
        schema.Column("events", "int", False, "Events summed."),
        schema.Column("received_at", "timestamp", doc="Their latest received_at."),
        schema.Column("built_rows", "int", False, "Rows after the last full build."),
        schema.Column("rows", "int", False, "Rows now."),
    ),
)
USER_INVITES: Final = schema.Table(
    name="user_invites",
    doc="Invitations summed per sender, invitee and local day, for the member tags' invitation "
    "counts; derived from `events`, kept with `user_days`.",
    columns=(
        schema.Column("user_id", "string", False, "The sender (an invite event's user_id)."),
        schema.Column("invitee", "string", doc="properties.invitee, when a string."),
        schema.Column("day", "date", False, "Local day in the warehouse's time zone."),
        schema.Column("invites", "int", False),
    ),
)
COLUMNS: Final = USER_DAYS.column_names
INVITE_EVENT: Final = "invite"


def daily(source: Source, events: ir.Table, *, until: date) -> ir.Table:
    """`events` summed per key and local day (the module's docstring). `until`: the last local
    day the day arithmetic is fast for (any later instant still gets its day, slowly)."""
    day = local_day(source, events.timestamp, since=None, until=until)
    anonymous = events.user_id.isnull()
    rows = events.select(
        user_id=events.user_id,
        anonymous_id=ibis.ifelse(anonymous, events.anonymous_id, ibis.null(dt.string)),
        day=day,
        timestamp=events.timestamp,
        revenue=events.revenue,
    )
    paid = rows.revenue > 0
    sums = rows.group_by(["user_id", "anonymous_id", "day"]).aggregate(
        events=rows.count(),
        orders=rows.count(where=paid),
        revenue=rows.revenue.sum(where=paid),
        first_at=rows.timestamp.min(),
        last_at=rows.timestamp.max(),
        last_order_at=rows.timestamp.max(where=paid),
    )
    return sums.select(*COLUMNS)


def invites(source: Source, events: ir.Table, *, until: date) -> ir.Table:
    """The `invite` events carrying a user_id, counted per sender (`user_id`), `invitee` (the
    string `properties.invitee`, else null) and local day."""
    sent = events.filter(events.event == INVITE_EVENT, events.user_id.notnull())
    invitee = JsonField(sent.properties, "invitee", source.engine).string()
    rows = sent.select(
        user_id=sent.user_id,
        invitee=invitee,
        day=local_day(source, sent.timestamp, since=None, until=until),
    )
    counted = rows.group_by(["user_id", "invitee", "day"]).aggregate(invites=rows.count())
    return counted.select(*USER_INVITES.column_names)


# -- kept in the DuckDB warehouse ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    layout: int
    timezone: str
    events: int
    received_at: datetime | None
    built_rows: int
    rows: int


@dataclass(frozen=True, slots=True)
class Kept:
    """What `kept` did: nothing, appended or rebuilt, and the rows it added."""

    action: str  # "current", "appended", "rebuilt"
    rows: int


def ensure_tables(wh: Warehouse) -> None:
    for table in (USER_DAYS, USER_INVITES, USER_DAYS_STATE):
        wh.duckdb.execute(schema.duckdb_ddl(table))


def state(wh: Warehouse) -> State | None:
    ensure_tables(wh)
    row = wh.duckdb.execute(
        "SELECT layout, timezone, events, received_at, built_rows, rows FROM user_days_state"
    ).fetchone()
    return State(*row) if row else None


def _today(wh: Warehouse) -> date:
    return datetime.now(ZoneInfo(wh.timezone)).date()


def _insert(wh: Warehouse, events: ir.Table) -> int:
    """Append the sums of `events` (and their invitations), in the order of the users they
    belong to now (an anonymous id's rows beside its user's: `_in_user_order`). Returns the
    rows added to `user_days`."""
    until = _today(wh) + timedelta(days=AHEAD_DAYS)
    sent = ibis.to_sql(invites(wh, events, until=until), dialect="duckdb")
    wh.duckdb.execute(f"INSERT INTO user_invites {sent}")
    expr = _in_user_order(wh, daily(wh, events, until=until))
    sql = ibis.to_sql(expr, dialect="duckdb")
    row = wh.duckdb.execute(f"INSERT INTO user_days {sql}").fetchone()
    return int(row[0]) if row else 0


def _in_user_order(source: Source, rows: ir.Table) -> ir.Table:
    """The rows ordered by the user they resolve to as they are written (the facts' `uid`),
    then day. Only an order: the facts resolve every row again when they read it. DuckDB
    groups rows that come in runs of one key much faster (the facts' grouping of 9M rows into
    2.6M users: 2.4 s in this order, 2.9 s with each anonymous id apart from its user)."""
    ids = source.table("identities").select(_anonymous="anonymous_id", _linked="user_id")
    joined = rows.left_join(ids, rows.anonymous_id == ids._anonymous)
    uid = ibis.coalesce(joined.user_id, joined._linked, joined.anonymous_id)
    return joined.order_by([uid, joined.day]).select(*COLUMNS)


def _save(wh: Warehouse, new: State) -> None:
    con = wh.duckdb
    con.execute("DELETE FROM user_days_state")
    con.execute(
        "INSERT INTO user_days_state VALUES (?, ?, ?, ?, ?, ?)",
        [new.layout, new.timezone, new.events, new.received_at, new.built_rows, new.rows],
    )


def current(source: Source) -> tuple[ir.Table, ir.Table] | None:
    """`user_days` and `user_invites` when `source` is a DuckDB warehouse whose kept rollup
    covers exactly its events now (what a refresh left, no event since), else None: then the
    readers sum the events on the fly. Reads only."""
    if not isinstance(source, Warehouse) or source.engine != "duckdb":
        return None
    try:
        row = source.duckdb.execute(
            "SELECT layout, timezone, events, received_at FROM user_days_state"
        ).fetchone()
    except duckdb.CatalogException:  # never kept here
        return None
    if row is None or tuple(row) != (LAYOUT, source.timezone, *stamps.state(source, "events")):
        return None
    return source.table(USER_DAYS.name), source.table(USER_INVITES.name)


def kept(wh: Warehouse) -> Kept:
    """Bring `user_days` up to the events (appending, or rebuilding: the module's docstring)."""
    old = state(wh)
    count, latest = stamps.state(wh, "events")
    if old is not None and (old.layout, old.timezone, old.events, old.received_at) == (
        LAYOUT,
        wh.timezone,
        count,
        latest,
    ):
        return Kept("current", 0)
    if (
        old is not None
        and (old.layout, old.timezone) == (LAYOUT, wh.timezone)
        and old.received_at is not None
        and latest is not None
        and count > old.events
        and latest > old.received_at
    ):
        appended = _append(wh, old)
        if appended is not None:
            return appended
    return rebuild(wh)


class _Abandon(Exception):
    """Raised inside an append's transaction to roll it back."""


def _append(wh: Warehouse, old: State) -> Kept | None:
    """Append the sums of the events stamped after `old.received_at`; None (and nothing
    written) when they are not all the new events or the ledger grew past its bound."""
    con = wh.duckdb
    try:
        with transaction(con, bulk="log"):
            # this transaction's view, which the insert reads
            count, latest = stamps.state(wh, "events")
            (stamped,) = con.execute(
                "SELECT count(*) FROM events WHERE received_at > ?", [old.received_at]
            ).fetchone() or (0,)
            if stamped != count - old.events:  # some rows were stamped out of order
                raise _Abandon
            events = wh.table("events")
            added = _insert(wh, events.filter(events.received_at > old.received_at))
            rows = old.rows + added
            if rows > COMPACT_GROWTH * max(old.built_rows, 1):
                raise _Abandon
            _save(wh, State(LAYOUT, wh.timezone, count, latest, old.built_rows, rows))
    except _Abandon:
        return None
    return Kept("appended", added)


def rebuild(wh: Warehouse) -> Kept:
    """Sum every event again, in one transaction committed straight into the file."""
    ensure_tables(wh)
    with transaction(wh.duckdb, bulk="checkpoint"):
        count, latest = stamps.state(wh, "events")
        wh.duckdb.execute("DELETE FROM user_days")
        wh.duckdb.execute("DELETE FROM user_invites")
        rows = _insert(wh, wh.table("events"))
        _save(wh, State(LAYOUT, wh.timezone, count, latest, rows, rows))
    return Kept("rebuilt", rows)
