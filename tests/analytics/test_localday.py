"""The fast local day equals the calendar day zoneinfo gives, around every offset change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from userops.analytics.base import UnboundSource
from userops.analytics.localday import local_day, offset_segments

ZONES = [
    "Asia/Shanghai",  # had daylight saving 1986-1991
    "America/Los_Angeles",
    "Asia/Kolkata",  # +05:30
    "Australia/Lord_Howe",  # a 30-minute daylight saving shift
    "America/St_Johns",  # -03:30 / -02:30
    "Europe/London",
]


@pytest.fixture(scope="module")
def con() -> Iterator[ibis.BaseBackend]:
    backend = ibis.duckdb.connect()
    yield backend
    backend.disconnect()


def _check(
    con: ibis.BaseBackend, zone: str, instants: list[datetime], since: date | None, until: date
) -> None:
    source = UnboundSource(engine="duckdb", timezone=zone)
    table = ibis.memtable(pa.table({"timestamp": pa.array(instants, pa.timestamp("us", tz="UTC"))}))
    con.raw_sql(f"SET TimeZone = '{zone}'")
    expr = table.select(day=local_day(source, table.timestamp, since=since, until=until))
    got = con.to_pyarrow(expr).to_pydict()
    want = [t.astimezone(ZoneInfo(zone)).date() for t in instants]
    assert [d if isinstance(d, date) else d.date() for d in got["day"]] == want


@pytest.mark.parametrize("zone", ZONES)
def test_around_every_change_of_a_decade(con: ibis.BaseBackend, zone: str) -> None:
    first, last = date(1984, 1, 1), date(1993, 12, 31)
    instants = []
    for start, _, _ in offset_segments(zone, first, last):
        at = datetime.fromtimestamp(start / 1_000_000, UTC)
        instants += [at + timedelta(microseconds=d) for d in (-1, 0, 1)]
        instants += [at + timedelta(hours=h) for h in (-25, -3, 3, 25)]
    kept = [t for t in instants if first <= t.astimezone(ZoneInfo(zone)).date() <= last]
    _check(con, zone, kept, first, last)
    # without a first day, instants before the fast window fall back to the engine
    _check(con, zone, [*kept, datetime(1975, 6, 1, 23, 30, tzinfo=UTC)], None, last)


@settings(max_examples=15, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    instants=st.lists(
        st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31)),
        min_size=1,
        max_size=20,
    ),
)
def test_any_instant(con: ibis.BaseBackend, zone: str, instants: list[datetime]) -> None:
    aware = [t.replace(tzinfo=UTC) for t in instants]
    _check(con, zone, aware, None, date(2031, 1, 1))
