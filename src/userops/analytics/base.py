"""Shared building blocks of every metric: events as each user's, on the operator's local days.

An anonymous id linked to a user (identify, alias, or an event carrying both ids) counts as that
user, so events before login are theirs. Local days: on DuckDB the session time zone is
USEROPS_TIMEZONE, so casting a TIMESTAMPTZ to a date gives the local day; on ClickHouse the
zone is named in `toDate(ts, tz)`, whatever the server's own zone.

Metrics build on a `Source`: anything that hands out the warehouse tables and says which engine
the expressions are compiled for. A live `Warehouse` is one; `UnboundSource` is another, whose
tables are bound to no backend, so `ibis.to_sql(expr, dialect=...)` shows what a metric sends to
an engine without connecting to it (tests/conformance runs the same expressions on DuckDB and
on ClickHouse through chDB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.errors import ConfigError
from userops.warehouse import schema

Engine = Literal["duckdb", "clickhouse"]


class Source(Protocol):
    """Where a metric's tables come from. `Warehouse` satisfies it."""

    @property
    def engine(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    def table(self, name: str) -> ir.Table: ...


@dataclass(frozen=True, slots=True)
class UnboundSource:
    """The warehouse tables as unbound Ibis tables, for compiling a metric to an engine's SQL."""

    engine: Engine = "duckdb"
    timezone: str = "Asia/Shanghai"

    def table(self, name: str) -> ir.Table:
        try:
            definition = schema.TABLES[name]
        except KeyError:
            raise ConfigError(f"the warehouse has no table {name!r}") from None
        return ibis.table(schema.ibis_schema(definition), name=name)


def local_date(source: Source, ts: ir.TimestampValue) -> ir.DateValue:
    if source.engine == "clickhouse":
        return _ch_to_date(ts, source.timezone)
    return ts.date()


@ibis.udf.scalar.builtin(name="toDate")  # type: ignore[untyped-decorator]
def _ch_to_date(ts: dt.timestamp, tz: str) -> dt.date:
    """ClickHouse's toDate(ts, tz): the calendar day of `ts` in zone `tz`."""


@ibis.udf.scalar.builtin(name="toUnixTimestamp64Micro")  # type: ignore[untyped-decorator]
def _ch_epoch_micros(ts: dt.timestamp) -> dt.int64:
    """ClickHouse: microseconds since 1970-01-01 UTC of a DateTime64."""


@ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator]
def _duckdb_epoch_micros(ts: dt.timestamp) -> dt.int64:
    """DuckDB: microseconds since 1970-01-01 UTC."""


def epoch_micros(source: Source, ts: ir.TimestampValue) -> ir.IntegerValue:
    """`ts` as microseconds since the epoch: arithmetic on instants without any time zone.

    Adding an interval to, or taking the date of, a TIMESTAMPTZ goes through the session's time
    zone on DuckDB (ICU), which costs about a microsecond a row; integers cost nothing.
    """
    if source.engine == "clickhouse":
        return _ch_epoch_micros(ts)
    return _duckdb_epoch_micros(ts)


def day_start(timezone: str, day: date) -> datetime:
    """The first instant (UTC) of local day `day` in `timezone`."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def days_filter(source: Source, ts: ir.TimestampValue, first: date, last: date) -> ir.BooleanValue:
    """`ts` falls on local days first..last: a range on the raw column, so the engine can skip
    data by its sort key or zone maps and never converts a row's time zone."""
    kind = dt.Timestamp(timezone="UTC", scale=6)
    lo = ibis.literal(day_start(source.timezone, first), type=kind)
    hi = ibis.literal(day_start(source.timezone, last + timedelta(days=1)), type=kind)
    return (ts >= lo) & (ts < hi)


def resolved_events(source: Source) -> ir.Table:
    """Events with `uid` (the user they belong to) and `day` (local date)."""
    events = source.table("events")
    ids = source.table("identities").select("anonymous_id", linked_user="user_id")
    joined = events.left_join(ids, events.anonymous_id == ids.anonymous_id)
    return joined.select(
        *[events[c] for c in events.columns],
        uid=ibis.coalesce(events.user_id, joined.linked_user, events.anonymous_id),
        day=local_date(source, events.timestamp),
    )
