"""Shared building blocks of every metric: events as each user's, on the operator's local days.

An anonymous id linked to a user (identify, alias, or an event carrying both ids) counts as that
user, so events before login are theirs. Local days: on DuckDB the session time zone is
USEROPS_TIMEZONE, so casting a TIMESTAMPTZ to a date gives the local day.
"""

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.warehouse.connection import Warehouse


def local_date(wh: Warehouse, ts: ir.TimestampValue) -> ir.DateValue:
    if wh.engine == "clickhouse":
        return _ch_to_date(ts, wh.timezone)
    return ts.date()


@ibis.udf.scalar.builtin(name="toDate")  # type: ignore[untyped-decorator]
def _ch_to_date(ts: dt.timestamp, tz: str) -> dt.date:
    """ClickHouse's toDate(ts, tz): the calendar day of `ts` in zone `tz`."""


def resolved_events(wh: Warehouse) -> ir.Table:
    """Events with `uid` (the user they belong to) and `day` (local date)."""
    events = wh.table("events")
    ids = wh.table("identities").select("anonymous_id", linked_user="user_id")
    joined = events.left_join(ids, events.anonymous_id == ids.anonymous_id)
    return joined.select(
        *[events[c] for c in events.columns],
        uid=ibis.coalesce(events.user_id, joined.linked_user, events.anonymous_id),
        day=local_date(wh, events.timestamp),
    )
