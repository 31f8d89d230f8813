"""The event index: every event of a DuckDB warehouse as integers in memory, sorted by user and
time, built once per state of the warehouse and reused by every metric until the data changes.

A portable metric (an Ibis expression) scans the events, joins the identities and finds each
event's local day on every query: seconds on tens of millions of events, however small the
answer. The index does that work once: `uid` (identity resolution exactly as
`base.resolved_events`) becomes a number `ukey` (its position in the sorted distinct `uids`),
the time integer microseconds `us`, the event name a `code` (0: no name, k: `names[k-1]`);
the rows are sorted by (ukey, us). Metrics without event property filters are then computed on
these arrays with NumPy (`analytics.indexed`); everything else keeps the portable expressions,
which are the reference the index is tested against (tests/analytics/test_indexed.py).

The index is kept per open `Warehouse` (the server holds one for its lifetime) with a
fingerprint of the data: the events' row count and latest `received_at` (events are only ever
appended; every insert stamps `received_at`), and the identities' row count and the sum of their
`linked_at` (a link is only ever added, or moved to an earlier `linked_at`). A query first reads
the fingerprint (about a millisecond: DuckDB answers from its statistics and a small table) and
rebuilds the index when it changed. docs/decisions/0005-event-index.md says why and what it costs.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, Final
from zoneinfo import ZoneInfo

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from userops.analytics.base import Source, epoch_micros, resolved_events
from userops.analytics.localday import DAY_US, offset_segments
from userops.warehouse.connection import Warehouse

Ints = npt.NDArray[Any]  # integer arrays (int64 times and positions, int32 keys and days)
Keys = Ints

_ENABLED: ContextVar[bool] = ContextVar("userops_event_index", default=True)
_CACHE: weakref.WeakKeyDictionary[Warehouse, tuple[tuple[Any, ...], EventIndex]] = (
    weakref.WeakKeyDictionary()
)
BATCH_ROWS: Final = 1_000_000
_EPOCH: Final = date(1970, 1, 1)


class EventIndex:
    """The events as arrays sorted by (ukey, us); derived arrays are computed when first asked."""

    def __init__(
        self,
        *,
        uids: pa.Array,
        ukey: Keys,
        us: Ints,
        code: Keys,
        names: tuple[str, ...],
        timezone: str,
    ) -> None:
        self.uids = uids  # distinct uids, sorted: ukey k is uids[k]
        self.ukey = ukey
        self.us = us
        self.code = code
        self.names = names
        self.timezone = timezone
        self._positions: dict[int, Ints] = {}
        self._event_days: dict[int, tuple[Keys, Keys]] = {}

    def __len__(self) -> int:
        return len(self.us)

    @property
    def users(self) -> int:
        return len(self.uids)

    def code_of(self, name: str) -> int | None:
        try:
            return self.names.index(name) + 1
        except ValueError:
            return None

    def positions(self, name: str) -> Ints:
        """Where the events named `name` are, ascending (empty when there is none)."""
        code = self.code_of(name)
        if code is None:
            return np.empty(0, dtype=np.int64)
        if code not in self._positions:
            self._positions[code] = np.flatnonzero(self.code == code)
        return self._positions[code]

    @cached_property
    def named(self) -> Ints:
        """Where the events with a name (behaviour: not identify, alias, group) are."""
        return np.flatnonzero(self.code != 0)

    @cached_property
    def day(self) -> Keys:
        """Each event's local day, as days since 1970-01-01."""
        if not len(self.us):
            return np.empty(0, dtype=np.int32)
        zone = ZoneInfo(self.timezone)
        lo, hi = (
            datetime.fromtimestamp(int(v) // 1_000_000, UTC).astimezone(zone).date()
            for v in (self.us.min(), self.us.max())
        )
        segments = offset_segments(self.timezone, lo, hi)
        if len(segments) == 1:
            shifted = self.us + segments[0][2]
        else:
            starts = np.array([s for s, _, _ in segments], dtype=np.int64)
            offsets = np.array([o for _, _, o in segments], dtype=np.int64)
            which = np.clip(np.searchsorted(starts, self.us, side="right") - 1, 0, None)
            shifted = self.us + offsets[which]
        return (shifted // DAY_US).astype(np.int32)

    def user_days(self, event: str | None = None) -> tuple[Keys, Keys]:
        """Distinct (ukey, day) of the events (named `event`), sorted by ukey then day."""
        code = 0 if event is None else self.code_of(event)
        if code is None:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
        if code not in self._event_days:
            if event is None:
                ukey, day = self.ukey, self.day
            else:
                at = self.positions(event)
                ukey, day = self.ukey[at], self.day[at]
            self._event_days[code] = distinct_pairs(ukey, day)
        return self._event_days[code]

    @cached_property
    def tied(self) -> Ints:
        """tied[i]: event i is at the same instant as event i-1 of the same user (one more
        entry, False, past the end)."""
        out = np.zeros(len(self.us) + 1, dtype=bool)
        if len(self.us) > 1:
            out[1:-1] = (self.ukey[1:] == self.ukey[:-1]) & (self.us[1:] == self.us[:-1])
        return out

    def instant_start(self, at: Ints) -> Ints:
        """The first position of each position's instant (the user's events at that very time)."""
        at = at.copy()
        todo = np.flatnonzero(self.tied[at])
        while len(todo):
            at[todo] -= 1
            todo = todo[self.tied[at[todo]]]
        return at

    def instant_end(self, at: Ints) -> Ints:
        """The position after the last event of each position's instant."""
        at = at + 1
        todo = np.flatnonzero(self.tied[at])
        while len(todo):
            at[todo] += 1
            todo = todo[self.tied[at[todo]]]
        return at


def distinct_pairs(a: Keys, b: Keys) -> tuple[Keys, Keys]:
    """The distinct (a, b) of arrays sorted by a then b."""
    if not len(a):
        return a, b
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[keep], b[keep]


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def day_of(number: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + number)


# --- the cache ------------------------------------------------------------------------------------


@contextmanager
def portable() -> Iterator[None]:
    """Within the block, metrics use the portable expressions only (never the index)."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def event_index(source: Source) -> EventIndex | None:
    """The index of a DuckDB warehouse's events, built when missing or when the data changed
    since; None for other engines, for unbound sources and inside `portable()`."""
    if not _ENABLED.get() or not isinstance(source, Warehouse) or source.engine != "duckdb":
        return None
    key = (*_fingerprint(source), source.timezone)
    cached = _CACHE.get(source)
    if cached is not None and cached[0] == key:
        return cached[1]
    _CACHE.pop(source, None)  # free the old arrays before building the new ones
    index = build(source)
    _CACHE[source] = (key, index)
    return index


def forget(source: Source) -> None:
    """Drop the index kept for `source` (the next query rebuilds it)."""
    if isinstance(source, Warehouse):
        _CACHE.pop(source, None)


def _fingerprint(wh: Warehouse) -> tuple[Any, ...]:
    events = wh.sql("SELECT count(*), max(received_at) FROM events")[0]
    links = wh.sql("SELECT count(*), sum(epoch_us(linked_at)) FROM identities")[0]
    return (*events, *links)


def build(wh: Warehouse) -> EventIndex:
    """Read every event once, resolved to its user, sorted by (uid, time), into arrays."""
    events = wh.table("events")
    named = events.filter(events.event.notnull()).select("event").distinct()
    names = tuple(sorted(str(n) for n in named.to_pyarrow()["event"].to_pylist()))
    ev = resolved_events(wh)
    value_set = pa.array(names, type=pa.string())
    rows = ev.filter(ev.uid.notnull()).select(
        uid=ev.uid, us=epoch_micros(wh, ev.timestamp), event=ev.event
    )
    rows = rows.order_by([rows.uid, rows.us])
    uid_chunks: list[pa.Array] = []
    keys: list[Keys] = []
    times: list[Ints] = []
    codes: list[Keys] = []
    last: Any = None
    count = 0
    # Streamed in batches: the strings of all uids are never in memory at once.
    reader = wh.duckdb.execute(str(ibis.to_sql(rows, dialect="duckdb"))).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        if not batch.num_rows:
            continue
        uid = pc.cast(batch.column("uid"), pa.string())
        n = len(uid)
        change = np.empty(n, dtype=bool)
        change[0] = last is None or uid[0].as_py() != last
        if n > 1:
            differs = pc.not_equal(uid.slice(1), uid.slice(0, n - 1))
            change[1:] = np.asarray(differs.to_numpy(zero_copy_only=False), dtype=bool)
        uid_chunks.append(uid.filter(pa.array(change)))
        keys.append((np.cumsum(change, dtype=np.int64) + (count - 1)).astype(np.int32))
        count += int(change.sum())
        last = uid[n - 1].as_py()
        times.append(np.asarray(batch.column("us").to_numpy(zero_copy_only=False), np.int64))
        found = pc.index_in(pc.cast(batch.column("event"), pa.string()), value_set=value_set)
        codes.append(
            np.asarray(
                pc.fill_null(pc.add(found, 1), 0).to_numpy(zero_copy_only=False), dtype=np.int32
            )
        )
    uids = pa.concat_arrays(uid_chunks) if uid_chunks else pa.array([], type=pa.string())
    return EventIndex(
        uids=uids,
        ukey=np.concatenate(keys) if keys else np.empty(0, dtype=np.int32),
        us=np.concatenate(times) if times else np.empty(0, dtype=np.int64),
        code=np.concatenate(codes) if codes else np.empty(0, dtype=np.int32),
        names=names,
        timezone=wh.timezone,
    )


def uid_table(index: EventIndex) -> Any:
    """The index's users as an in-memory Ibis table (uid, ukey), to join with warehouse tables."""
    return ibis.memtable(
        pa.table({"uid": index.uids, "ukey": pa.array(np.arange(index.users, dtype=np.int32))})
    )
