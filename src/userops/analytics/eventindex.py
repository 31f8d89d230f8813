"""The event index: every event of a DuckDB warehouse as integers in memory, sorted by user and
time, built once per state of the warehouse and reused by every metric until the data changes.

A portable metric (an Ibis expression) scans the events, joins the identities and finds each
event's local day on every query: seconds on tens of millions of events, however small the
answer. The index does that work once: `uid` (identity resolution exactly as
`base.resolved_events`) becomes a number `ukey` (its position in the distinct `uids`),
the time integer microseconds `us`, the event name a `code` (0: no name, k: `names[k-1]`);
the rows are sorted by (ukey, us). Metrics without event property filters are then computed on
these arrays with NumPy (`analytics.indexed`); everything else keeps the portable expressions,
which are the reference the index is tested against (tests/analytics/test_indexed.py).

The index is kept per open `Warehouse` (the server holds one for its lifetime) with a
fingerprint of the data: the events' row count and latest `received_at` (events are only ever
appended; every insert stamps `received_at`), and the identities' row count and the sum of their
`linked_at` (a link is only ever added, or moved to an earlier `linked_at`). A query first reads
the fingerprint (about a millisecond: DuckDB answers from its statistics and a small table) and
rebuilds the index when it changed. When events were added since (every new row stamped after
the index's latest `received_at`) and the only change to identities is new links of anonymous
ids the index holds as users of their own (a visitor signing up), the new rows and the linked
ids' rows are merged into the arrays instead (`_appended`): a server ingesting all day keeps
its index in step without reading everything again. docs/decisions/0006-event-index.md says
why and what it costs.
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
from userops.warehouse import stamps
from userops.warehouse.connection import Warehouse

Ints = npt.NDArray[Any]  # integer arrays (int64 times; int32 keys, days, codes and positions)
Keys = Ints

_ENABLED: ContextVar[bool] = ContextVar("userops_event_index", default=True)
_CACHE: weakref.WeakKeyDictionary[Warehouse, tuple[tuple[Any, ...], EventIndex]] = (
    weakref.WeakKeyDictionary()
)
BATCH_ROWS: Final = 1_000_000
_BLOCK: Final = 16_384  # positions searched at a time (see EventIndex._next)
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
        self.uids = uids  # the distinct uids: ukey k is uids[k]
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
        return self._padded(name)[:-1]

    def _padded(self, name: str) -> Ints:
        """`positions(name)` and then len(self), for searches that may find nothing."""
        code = self.code_of(name)
        if code is None:
            return np.array([len(self.us)], dtype=self.position_type)
        if code not in self._positions:
            found = np.flatnonzero(self.code == code).astype(self.position_type)
            self._positions[code] = np.append(found, self.position_type(len(self.us)))
        return self._positions[code]

    def next_at(self, name: str, at: Ints) -> Ints:
        """The position of the first event named `name` at or after each position of `at`
        (len(self) when there is none)."""
        return self._next(self._padded(name), at)

    @property
    def position_type(self) -> type[np.signedinteger[Any]]:
        """Positions are int32 below 2**31 events: half the memory to search."""
        return np.int32 if len(self.us) < 2**31 - 1 else np.int64

    @cached_property
    def _named(self) -> Ints:
        found = np.flatnonzero(self.code != 0).astype(self.position_type)
        return np.append(found, self.position_type(len(self.us)))

    def next_named(self, at: Ints) -> Ints:
        """As `next_at`, for any event with a name (behaviour: not identify, alias, group)."""
        return self._next(self._named, at)

    def _next(self, padded: Ints, at: Ints) -> Ints:
        """padded[how many of its positions come before each position of `at`].

        Binary searches, block by block of `at`, each within the part of `padded` its block
        spans: when `at` is (nearly) ascending, that part is small and stays in the CPU's
        caches, where one search over all of `padded` would miss them at every step.
        """
        positions = padded[:-1]
        if len(at) <= 4 * _BLOCK:
            return padded[np.searchsorted(positions, at)]
        out = np.empty(len(at), dtype=padded.dtype)
        for start in range(0, len(at), _BLOCK):
            block = at[start : start + _BLOCK]
            lo = int(np.searchsorted(positions, block.min()))
            hi = int(np.searchsorted(positions, block.max(), side="right"))
            out[start : start + _BLOCK] = padded[lo + np.searchsorted(positions[lo:hi], block)]
        return out

    @cached_property
    def user_end(self) -> Ints:
        """By ukey: the position after the user's last event."""
        return np.cumsum(np.bincount(self.ukey, minlength=self.users), dtype=np.int64)

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
        """The position after the last event of each position's instant (at most len(self))."""
        at = np.minimum(at + 1, len(self.us))
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


def event_index(source: Source, *, build_missing: bool = True) -> EventIndex | None:
    """The index of a DuckDB warehouse's events, built when missing or when the data changed
    since; None for other engines, for unbound sources and inside `portable()`, and, with
    `build_missing=False`, when no current index is kept (for callers whose other path costs
    less than a build)."""
    if not _ENABLED.get() or not isinstance(source, Warehouse) or source.engine != "duckdb":
        return None
    key = (*_fingerprint(source), source.timezone)
    cached = _CACHE.get(source)
    if cached is not None and cached[0] == key:
        return cached[1]
    grown = _appended(source, *cached, key) if cached is not None else None
    if grown is not None:
        _CACHE[source] = (key, grown)
        return grown
    if not build_missing:
        return None
    _CACHE.pop(source, None)  # free the old arrays before building the new ones
    index = build(source)
    _CACHE[source] = (key, index)
    return index


def forget(source: Source) -> None:
    """Drop the index kept for `source` (the next query rebuilds it)."""
    if isinstance(source, Warehouse):
        _CACHE.pop(source, None)


def _fingerprint(wh: Warehouse) -> tuple[Any, ...]:
    events = stamps.state(wh, "events")
    links = wh.sql("SELECT count(*), sum(epoch_us(linked_at)) FROM identities")[0]
    return (*events, *links)


MAX_APPENDED_USERS: Final = 50_000  # more users with new events: read everything again


def _appended(
    wh: Warehouse, key: tuple[Any, ...], index: EventIndex, now: tuple[Any, ...]
) -> EventIndex | None:
    """`index` brought up to the fingerprint `now` from its own `key` without reading every
    event again, or None when that cannot be done safely: the time zone differs, the index does
    not hold exactly the rows its key counts (a write landed while it was built), some new
    rows were stamped at or before the index's latest `received_at` (a transaction that began
    earlier and committed later), or identities changed otherwise than by new links of
    anonymous ids the index holds as users of their own (`_relinked`). Too many users touched
    also answer None: a rebuild is then the cheaper way."""
    count, latest, links, link_sum, zone = key
    now_count, now_latest, now_links, now_link_sum, now_zone = now
    if zone != now_zone or latest is None or now_latest is None or len(index) != count:
        return None
    added = int(now_count) - int(count)
    if added < 0 or (added > 0) != (now_latest > latest):  # no new rows: no new stamp either
        return None
    moved: pa.Table | None = None
    if (links, link_sum) != (now_links, now_link_sum):
        relinked = _relinked(
            wh, index, int(now_links) - int(links), int(now_link_sum or 0) - int(link_sum or 0)
        )
        if relinked is None:
            return None
        index, moved = relinked
    new = _NO_ROWS
    if added:
        ev = resolved_events(wh)
        ev = ev.filter(ev.received_at > latest, ev.uid.notnull())
        rows = ev.select(
            uid=ev.uid.cast("string"), us=epoch_micros(wh, ev.timestamp), event=ev.event
        )
        new = rows.to_pyarrow().cast(_NO_ROWS.schema)
        if new.num_rows != added:
            return None
    if moved is not None:
        new = pa.concat_tables([moved, new])
    return _merged(index, new) if new.num_rows else index


_NO_ROWS: Final = pa.table(
    {
        "uid": pa.array([], pa.string()),
        "us": pa.array([], pa.int64()),
        "event": pa.array([], pa.string()),
    }
)
_LINKED: Final = "__userops_index_linked"


def _relinked(
    wh: Warehouse, index: EventIndex, links: int, link_sum: int
) -> tuple[EventIndex, pa.Table] | None:
    """The index without the users that are anonymous ids linked since it was built, and their
    rows (uid: the user each now belongs to, us, event) to merge back; None when the new links
    are not all that changed in the identities (their count and sum of `linked_at` must account
    for the whole difference: a link moved to another user leaves rows elsewhere) or when such
    an id is also some event's own user_id."""
    con = wh.duckdb
    con.register(_LINKED, pa.table({"uid": index.uids}))
    try:
        found = con.execute(
            f"SELECT i.anonymous_id, i.user_id, epoch_us(i.linked_at) AS at "  # noqa: S608
            f"FROM identities i JOIN {_LINKED} u ON u.uid = i.anonymous_id"
        ).to_arrow_table()
    finally:
        con.unregister(_LINKED)
    if found.num_rows != links or found.num_rows > MAX_APPENDED_USERS:
        return None
    if int(pc.sum(found["at"]).as_py() or 0) != link_sum:
        return None
    anonymous = found["anonymous_id"].combine_chunks().cast(pa.string())
    [(own,)] = con.execute(
        "SELECT count(*) FROM events WHERE user_id IN (SELECT unnest(?))",
        [anonymous.to_pylist()],
    ).fetchall()
    if own:
        return None
    hit = pc.fill_null(pc.index_in(index.uids, value_set=anonymous), -1).to_numpy()
    gone = np.flatnonzero(hit >= 0)  # the ukeys of the linked ids, ascending
    starts = np.searchsorted(index.ukey, gone, side="left")
    ends = np.searchsorted(index.ukey, gone, side="right")
    lengths = ends - starts
    at = np.concatenate(
        [np.arange(lo, hi) for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]
        or [np.empty(0, dtype=np.int64)]
    )
    owners = found["user_id"].combine_chunks().cast(pa.string()).take(pa.array(hit[gone]))
    names = pa.array([None, *index.names], pa.string())
    moved = pa.table(
        {
            "uid": owners.take(pa.array(np.repeat(np.arange(len(gone)), lengths))),
            "us": pa.array(index.us[at], pa.int64()),
            "event": names.take(pa.array(index.code[at])),
        }
    )
    keep = np.ones(len(index), dtype=bool)
    keep[at] = False
    ukey = index.ukey[keep]
    ukey = (ukey - np.searchsorted(gone, ukey)).astype(np.int32)  # close the gaps
    users = np.ones(index.users, dtype=bool)
    users[gone] = False
    rest = EventIndex(
        uids=index.uids.filter(pa.array(users)),
        ukey=ukey,
        us=index.us[keep],
        code=index.code[keep],
        names=index.names,
        timezone=index.timezone,
    )
    return rest, moved


def _merged(index: EventIndex, new: pa.Table) -> EventIndex | None:
    """The index with the rows of `new` (uid, us, event) in their places by (ukey, us)."""
    names = tuple(sorted({*index.names, *(n for n in new["event"].to_pylist() if n is not None)}))
    code = index.code
    if names != index.names:  # codes follow the names' order: renumber the old ones
        renumber = np.zeros(len(index.names) + 1, dtype=np.int32)
        renumber[1:] = [names.index(n) + 1 for n in index.names]
        code = renumber[code]
    new_code = pc.fill_null(pc.add(pc.index_in(new["event"], pa.array(names, pa.string())), 1), 0)
    # Users: the few distinct new uids are looked up among the old ones by hashing the few and
    # probing the many (the other way round hashes every old uid on every call).
    uid = new["uid"].combine_chunks().cast(pa.string())
    distinct = pc.unique(uid)
    hit = pc.fill_null(pc.index_in(index.uids, value_set=distinct), -1).to_numpy()
    old_keys = np.flatnonzero(hit >= 0)
    key_of = np.full(len(distinct), -1, dtype=np.int64)
    key_of[hit[old_keys]] = old_keys
    unseen = np.flatnonzero(key_of < 0)
    key_of[unseen] = index.users + np.arange(len(unseen))
    # the same array when no user is new: what was built on the index's user numbers (the
    # live count's population) can tell that its numbers still hold
    uids = (
        pa.concat_arrays([index.uids, distinct.take(pa.array(unseen))])
        if len(unseen)
        else index.uids
    )
    new_ukey = key_of[pc.index_in(uid, value_set=distinct).to_numpy()].astype(np.int32)
    new_us = new["us"].to_numpy().astype(np.int64)
    order = np.lexsort((new_us, new_ukey))
    new_ukey, new_us = new_ukey[order], new_us[order]
    new_code_np = new_code.to_numpy(zero_copy_only=False).astype(np.int32)[order]
    # Where each new row goes: after the user's events at or before its time; a new user's
    # rows go after everything (their ukeys come after every old one).
    at = np.full(len(new_ukey), len(index), dtype=np.int64)
    old = new_ukey < index.users
    users, first = np.unique(new_ukey[old], return_index=True)
    if len(users) > MAX_APPENDED_USERS:  # as many stretches to copy: rebuild instead
        return None
    # each user's rows, found by binary search in the sorted ukeys (cheaper than `user_end`,
    # which counts every row)
    starts = np.searchsorted(index.ukey, users, side="left").tolist()
    ends = np.searchsorted(index.ukey, users, side="right").tolist()
    bounds = [*first.tolist(), int(old.sum())]
    for start, end, lo, hi in zip(starts, ends, bounds[:-1], bounds[1:], strict=True):
        at[lo:hi] = start + np.searchsorted(index.us[start:end], new_us[lo:hi], side="right")
    ukey, us, codes = (
        _spliced(before, at, added)
        for before, added in ((index.ukey, new_ukey), (index.us, new_us), (code, new_code_np))
    )
    return EventIndex(uids=uids, ukey=ukey, us=us, code=codes, names=names, timezone=index.timezone)


def _spliced(before: Ints, at: Ints, added: Ints) -> Ints:
    """`before` with added[i] inserted before its position at[i] (`at` ascending): the old rows
    are copied a stretch at a time between the insertion points (a boolean mask over every row
    costs several times more when few rows are added)."""
    out = np.empty(len(before) + len(added), dtype=before.dtype)
    out[at + np.arange(len(at))] = added
    points, counts = np.unique(at, return_counts=True)
    shift, previous = 0, 0
    for point, count in zip(points.tolist(), counts.tolist(), strict=True):
        out[previous + shift : point + shift] = before[previous:point]
        shift += count
        previous = point
    out[previous + shift :] = before[previous:]
    return out


def build(wh: Warehouse) -> EventIndex:
    """Read every event once, resolved to its user, into arrays sorted by (ukey, us).

    Users and event names get their numbers first (two small tables, registered on the
    connection), so DuckDB sorts fixed-width integers, not strings: half the memory of sorting
    by uid. The rows stream in batches into arrays allocated once.
    """
    events = wh.table("events")
    named = events.filter(events.event.notnull()).select("event").distinct()
    names = tuple(sorted(str(n) for n in named.to_pyarrow()["event"].to_pylist()))
    ev = resolved_events(wh)
    ev = ev.filter(ev.uid.notnull())
    uids = pc.cast(ev.select("uid").distinct().to_pyarrow()["uid"].combine_chunks(), pa.string())
    con = wh.duckdb
    con.register(_UIDS, pa.table({"uid": uids, "ukey": np.arange(len(uids), dtype=np.int32)}))
    con.register(
        _NAMES,
        pa.table(
            {
                "event": pa.array(names, pa.string()),
                "code": np.arange(1, len(names) + 1, dtype=np.int32),
            }
        ),
    )
    try:
        keys, codes = wh.ibis.table(_UIDS), wh.ibis.table(_NAMES)
        joined = ev.join(keys, ev.uid == keys.uid).left_join(codes, ev.event == codes.event)
        rows = joined.select(
            ukey=joined.ukey,
            us=epoch_micros(wh, joined.timestamp),
            code=joined.code.fill_null(0),
        ).order_by(["ukey", "us"])
        [(expected,)] = wh.sql("SELECT count(*) FROM events")
        arrays = _Arrays(int(expected))
        reader = con.execute(str(ibis.to_sql(rows, dialect="duckdb"))).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            arrays.add(batch)
    finally:
        con.unregister(_UIDS)
        con.unregister(_NAMES)
    ukey, us, code = arrays.done()
    return EventIndex(uids=uids, ukey=ukey, us=us, code=code, names=names, timezone=wh.timezone)


_UIDS: Final = "__userops_index_uids"
_NAMES: Final = "__userops_index_names"


class _Arrays:
    """The index's three columns, filled batch by batch (allocated once for `capacity` rows)."""

    def __init__(self, capacity: int) -> None:
        self.ukey = np.empty(capacity, dtype=np.int32)
        self.us = np.empty(capacity, dtype=np.int64)
        self.code = np.empty(capacity, dtype=np.int32)
        self.size = 0

    def add(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if self.size + n > len(self.us):  # more rows than counted: grow
            grown = max(2 * len(self.us), self.size + n)
            self.ukey, self.us, self.code = (
                np.resize(a, grown) for a in (self.ukey, self.us, self.code)
            )
        end = self.size + n
        for name, target in (("ukey", self.ukey), ("us", self.us), ("code", self.code)):
            column = batch.column(name).to_numpy(zero_copy_only=False)
            target[self.size : end] = column
        self.size = end

    def done(self) -> tuple[Keys, Ints, Keys]:
        n = self.size
        return self.ukey[:n], self.us[:n], self.code[:n]


def uid_table(index: EventIndex) -> Any:
    """The index's users as an in-memory Ibis table (uid, ukey), to join with warehouse tables."""
    return ibis.memtable(
        pa.table({"uid": index.uids, "ukey": pa.array(np.arange(index.users, dtype=np.int32))})
    )
