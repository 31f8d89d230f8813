"""The population of a DuckDB warehouse in memory: every user a rule can select at a position,
and the per-user values audience conditions compare, as NumPy arrays (the data of
`profiles.livecount`).

The users are the universe of `conditions.universe` (docs/segments.md, "What a rule sees"):
the ids of `users` and the users of the event index (`analytics.eventindex`: events resolved to
their user as every metric does), sorted by DuckDB as `ORDER BY user_id` sorts them, so the first
positions a rule selects are the sample a preview shows. Columns are loaded when first asked,
each by one query that joins a warehouse table to the population on the engine:

- a text trait as dictionary codes (-1: unset); birthday, and the local day of created_at, as
  day numbers (days since 1970-01-01);
- a tag: whether the user has it, its text as codes, its number;
- a behaviour: the count of its events per user, or the first/last local day, from the event
  index; with property filters or a property measure, the compiled aggregate
  (`conditions.behaviour_values`) joined to the population.

Freshness: a population belongs to one event index (which `eventindex` rebuilds whenever events
or identities change) and one state of `users` (row count and latest `updated_at`: every upsert
stamps now()). Tag columns are kept with the state of `tag_values` (the writes of tag values
and their latest stamp, which every write keeps in `tag_values_state`). DuckDB answers these
states in well under a millisecond (`warehouse.stamps`); a new state loads the columns again.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Generic, TypeVar
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from userops.analytics.base import Source, day_start, local_date
from userops.analytics.eventindex import EventIndex
from userops.analytics.localday import DAY_US, offset_segments
from userops.domain.audience import TIME_MEASURES, EventCondition, rule_to_json
from userops.profiles.conditions import POSITION, USER_ID, Behaviour, behaviour_values
from userops.warehouse.connection import Warehouse

Mask = npt.NDArray[np.bool_]
Bits = npt.NDArray[np.uint8]  # a mask packed 8 users a byte (np.packbits)
Numbers = npt.NDArray[Any]  # int64 counts and day numbers, float64 amounts and tag numbers
Codes = npt.NDArray[np.int32]

MAX_TAGS: Final = 12  # tag columns kept (each about 5-14 bytes per user)
MAX_MEASURES: Final = 8  # behaviour measures kept (9-10 bytes per user)
MAX_TIMELINES: Final = 4  # event names kept in time order (16 bytes per event)
TIMELINE_EVENTS: Final = 8_000_000  # names with more events are counted from the index itself
SHORT_DICTIONARY: Final = 64  # text columns whose values' users are kept as bits
MAX_MASKS: Final = 256  # condition results kept (1 bit per user)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_MICRO: Final = timedelta(microseconds=1)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Ordered:
    """Values that compare by order (numbers, day numbers), and where the user has one."""

    values: Numbers
    valid: Mask


@dataclass(frozen=True, slots=True)
class Coded:
    """Text values as positions in `dictionary` (distinct strings); -1 where unset. For a
    short dictionary, the users of each value asked for are kept as bits (`users_with`)."""

    codes: Codes
    dictionary: pa.Array
    _users: dict[int, Bits] = field(default_factory=dict)

    @property
    def short(self) -> bool:
        return len(self.dictionary) <= SHORT_DICTIONARY

    def users_with(self, code: int) -> Bits:
        """The users whose value is `dictionary[code]`, packed (kept; call under the
        population's lock)."""
        if code not in self._users:
            self._users[code] = np.packbits(self.codes == code)
        return self._users[code]


@dataclass(frozen=True, slots=True)
class TagColumn:
    present: Mask
    text: Coded
    number: Ordered


@dataclass(frozen=True, slots=True)
class Measured:
    """A behaviour's measure per user: `values` (count, amount or day number) and `found`
    (the user had events, or numbers of the property, to measure)."""

    values: Numbers
    found: Mask


class Recent(Generic[K, V]):
    """A small least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def copy(self) -> Recent[K, V]:
        out: Recent[K, V] = Recent(self.size)
        out._items = OrderedDict(self._items)
        return out


class Population:
    """The universe of one state of the warehouse, sorted by id, and its cached columns."""

    def __init__(
        self, *, ids: pa.Array, of_event_user: Codes, index: EventIndex, users_state: Any
    ) -> None:
        self.ids = ids  # position p is the user ids[p]
        self.size = len(ids)
        self.of_event_user = of_event_user  # the position of each user (ukey) of the index
        self._index = weakref.ref(index)
        self._uids = index.uids  # the index's user numbers (an index merged from it keeps them)
        self.users_state = users_state
        self.table = ibis.memtable(
            pa.table({USER_ID: ids, POSITION: pa.array(np.arange(self.size, dtype=np.int32))})
        )
        self.lock = threading.RLock()
        self._text: dict[str, Coded] = {}
        self._days: dict[str, Ordered] = {}
        self._tags: Recent[tuple[str, Any], TagColumn] = Recent(MAX_TAGS)
        self._measures: Recent[tuple[str, date], Measured] = Recent(MAX_MEASURES)
        self._timelines: Recent[str, tuple[Numbers, Numbers] | None] = Recent(MAX_TIMELINES)
        self.masks: Recent[Hashable, Bits] = Recent(MAX_MASKS)

    def belongs_to(self, index: EventIndex) -> bool:
        return self._index() is index

    def rebased(self, index: EventIndex) -> Population | None:
        """This population for `index` when that index numbers the same users (events were
        merged into ours, no new user among them): the columns read from `users` and the
        tags are kept, everything read from events is dropped. None for any other index."""
        if index.uids is not self._uids:
            return None
        out = Population(
            ids=self.ids,
            of_event_user=self.of_event_user,
            index=index,
            users_state=self.users_state,
        )
        with self.lock:
            out._text = dict(self._text)
            out._days = dict(self._days)
            out._tags = self._tags.copy()
        return out

    # --- users ------------------------------------------------------------------------------

    def _users_column(self, source: Source, value: Any) -> pa.Table:
        users = source.table("users")
        people = self.table
        joined = users.join(people, users.user_id.cast(dt.string) == people[USER_ID])
        result: pa.Table = joined.select(people[POSITION], value=value(users)).to_pyarrow()
        return result

    def text(self, source: Source, field: str) -> Coded:
        """A text trait (users column `field`; `user_id` is every user's own id)."""
        with self.lock:
            if field not in self._text:
                if field == USER_ID:
                    codes = np.arange(self.size, dtype=np.int32)
                    self._text[field] = Coded(codes, self.ids)
                else:
                    rows = self._users_column(source, lambda u: u[field])
                    self._text[field] = _coded(self.size, rows[POSITION], rows["value"])
            return self._text[field]

    def days(self, source: Source, field: str) -> Ordered:
        """A date trait as day numbers: `birthday`, or `created_at`'s local day (as compiled)."""
        with self.lock:
            if field not in self._days:
                if field == "created_at":
                    rows = self._users_column(source, lambda u: local_date(source, u.created_at))
                else:
                    rows = self._users_column(source, lambda u: u[field])
                self._days[field] = _ordered(self.size, rows[POSITION], _day_numbers(rows["value"]))
            return self._days[field]

    # --- tags -------------------------------------------------------------------------------

    def tag(self, source: Source, code: str, state: Any) -> TagColumn:
        """A tag's values, as of `state` of tag_values (from `warehouse.stamps.states`)."""
        with self.lock:
            return self._tags.get((code, state), lambda: self._load_tag(source, code))

    def _load_tag(self, source: Source, code: str) -> TagColumn:
        values = source.table("tag_values")
        values = values.filter(values.tag == code)
        people = self.table
        joined = values.join(people, values.user_id.cast(dt.string) == people[USER_ID])
        rows = (
            joined.group_by(POSITION)
            .aggregate(value=joined.value.max(), number=joined.number.max())
            .to_pyarrow()
        )
        at = ints(rows[POSITION])
        present = np.zeros(self.size, dtype=bool)
        present[at] = True
        text = _coded(self.size, rows[POSITION], rows["value"])
        number = _ordered(self.size, rows[POSITION], rows["number"].cast(pa.float64()))
        return TagColumn(present, text, number)

    # --- behaviour --------------------------------------------------------------------------

    def measure(
        self, source: Source, index: EventIndex, condition: EventCondition, today: date
    ) -> Measured:
        """What `condition` measures per user on local day `today` (without its comparison)."""
        with self.lock:
            return self._measures.get(
                measure_key(condition, today),
                lambda: self._measure(source, index, condition, today),
            )

    def has_measure(self, condition: EventCondition, today: date) -> bool:
        with self.lock:
            return measure_key(condition, today) in self._measures

    def _measure(
        self, source: Source, index: EventIndex, condition: EventCondition, today: date
    ) -> Measured:
        behaviour = Behaviour.of(condition)
        if behaviour.filters or behaviour.prop is not None:
            return self._measure_compiled(source, condition, today)
        zone = index.timezone
        end = _micros(day_start(zone, today + timedelta(days=1)))
        start = None
        if behaviour.within_days is not None:
            start = _micros(day_start(zone, today - timedelta(days=behaviour.within_days - 1)))
        if behaviour.measure == "count":
            timeline = self._timelines.get(
                behaviour.event, lambda: _timeline(self, index, behaviour.event)
            )
            if timeline is not None:
                stamps, users = timeline
                lo = 0 if start is None else int(np.searchsorted(stamps, start))
                hi = int(np.searchsorted(stamps, end))
                counts = np.bincount(users[lo:hi], minlength=self.size)
                return Measured(counts, counts > 0)
        at = index.positions(behaviour.event)
        us = index.us[at]
        keep = us < end
        if start is not None:
            keep &= us >= start
        at, us = at[keep], us[keep]
        ukey = index.ukey[at]
        values = np.zeros(self.size, dtype=np.int64)
        found = np.zeros(self.size, dtype=bool)
        if behaviour.measure == "count":
            counts = np.bincount(self.of_event_user[ukey], minlength=self.size)
            return Measured(counts, counts > 0)
        if not len(ukey):
            return Measured(values, found)
        # Rows are sorted by (user, time): a user's first event is the first of their run.
        starts = np.flatnonzero(np.r_[True, ukey[1:] != ukey[:-1]])
        if behaviour.measure == "first_time":
            chosen = us[starts]
        else:
            chosen = us[np.r_[starts[1:], len(ukey)] - 1]
        where = self.of_event_user[ukey[starts]]
        values[where] = local_day_numbers(chosen, zone)
        found[where] = True
        return Measured(values, found)

    def _measure_compiled(self, source: Source, condition: EventCondition, today: date) -> Measured:
        rows = behaviour_values(source, condition, today=today, people=self.table).to_pyarrow()
        at = ints(rows[POSITION])
        found = np.zeros(self.size, dtype=bool)
        found[at] = True
        measure = condition.effective_measure
        if measure == "count":
            values: Numbers = np.zeros(self.size, dtype=np.int64)
            values[at] = ints(rows["value"])
        elif measure in TIME_MEASURES:
            values = np.zeros(self.size, dtype=np.int64)
            values[at] = _day_numbers(rows["value"]).to_numpy(zero_copy_only=False)
        else:
            values = np.zeros(self.size, dtype=np.float64)
            values[at] = rows["value"].to_numpy()
        return Measured(values, found)


def measure_key(condition: EventCondition, today: date) -> tuple[str, date]:
    """What a behaviour condition measures, as JSON without its comparison (JSON: `True` and
    `1` are different property values, equal Python ones)."""
    measured = replace(condition, op=None, value=None)
    return json.dumps(rule_to_json(measured), sort_keys=True, ensure_ascii=False), today


def frequent(index: EventIndex, name: str) -> bool:
    """Too many events named `name` to keep a copy of them in time order."""
    return len(index.positions(name)) > TIMELINE_EVENTS


def _timeline(people: Population, index: EventIndex, name: str) -> tuple[Numbers, Numbers] | None:
    """The events named `name` in time order: their instants and their users' positions, so
    that a window of days is a slice (None for a name too frequent to keep a copy of)."""
    if frequent(index, name):
        return None
    at = index.positions(name)
    stamps = index.us[at]
    order = np.argsort(stamps, kind="stable")
    users = people.of_event_user[index.ukey[at]].astype(np.intp)
    return stamps[order], users[order]


# --- building and keeping ----------------------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary[Warehouse, Population] = weakref.WeakKeyDictionary()
_BUILDING = threading.Lock()


def population(
    source: Warehouse, index: EventIndex, users_state: Any, *, build_missing: bool = True
) -> Population | None:
    """The population of `source` for its current event index and state of `users` (from
    `warehouse.stamps.states`), built when missing or when either changed since (with
    `build_missing=False`: None then)."""
    with _BUILDING:
        cached = _CACHE.get(source)
        if cached is not None and cached.users_state == users_state:
            if cached.belongs_to(index):
                return cached
            moved = cached.rebased(index)
            if moved is not None:
                _CACHE[source] = moved
                return moved
        if not build_missing:
            return None
        _CACHE.pop(source, None)
        built = _build(source, index, users_state)
        _CACHE[source] = built
        return built


def forget(source: Warehouse) -> None:
    """Drop the population kept for `source`."""
    with _BUILDING:
        _CACHE.pop(source, None)


def _build(source: Warehouse, index: EventIndex, users_state: Any) -> Population:
    """The users of `users` and of the index, distinct, sorted by the engine; each index user's
    position."""
    users = source.table("users")
    known = users.select(**{USER_ID: users.user_id.cast(dt.string), "ukey": ibis.null(dt.int32)})
    seen = ibis.memtable(
        pa.table({USER_ID: index.uids, "ukey": pa.array(np.arange(index.users, dtype=np.int32))})
    )
    both: ir.Table = known.union(seen)
    rows = both.group_by(USER_ID).aggregate(ukey=both.ukey.max()).order_by(USER_ID).to_pyarrow()
    ids = rows[USER_ID].combine_chunks().cast(pa.string())
    ukey = pc.fill_null(rows["ukey"], -1).to_numpy()
    positions = np.arange(len(ids), dtype=np.int32)
    seen_at = ukey >= 0
    of_event_user = np.full(index.users, -1, dtype=np.int32)
    of_event_user[ukey[seen_at]] = positions[seen_at]
    assert index.users == 0 or of_event_user.min() >= 0, "every user of the index has a position"
    return Population(ids=ids, of_event_user=of_event_user, index=index, users_state=users_state)


# --- helpers -------------------------------------------------------------------------------------


def ints(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False))


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _UTC_MICRO


def _day_numbers(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Dates as days since 1970-01-01 (nulls stay null)."""
    return pc.cast(pc.cast(column, pa.date32()), pa.int32())


def _ordered(size: int, at: pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> Ordered:
    """Values given at positions `at` (nulls: unset) as an Ordered over the population."""
    positions = ints(at)
    valid_rows = pc.is_valid(values).to_numpy(zero_copy_only=False)
    out = np.zeros(size, dtype=np.float64 if pa.types.is_floating(values.type) else np.int64)
    valid = np.zeros(size, dtype=bool)
    filled = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
    out[positions[valid_rows]] = filled[valid_rows]
    valid[positions[valid_rows]] = True
    return Ordered(out, valid)


def _coded(size: int, at: pa.ChunkedArray, values: pa.ChunkedArray) -> Coded:
    """Text given at positions `at` (nulls: unset) as dictionary codes over the population."""
    encoded = values.combine_chunks().cast(pa.string()).dictionary_encode()
    codes = np.full(size, -1, dtype=np.int32)
    codes[ints(at)] = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return Coded(codes, encoded.dictionary)


def local_day_numbers(us: Numbers, timezone: str) -> Numbers:
    """The local day (days since 1970-01-01) of instants in epoch microseconds, exact across
    changes of the zone's offset (as `EventIndex.day` computes them)."""
    if not len(us):
        return np.empty(0, dtype=np.int64)
    zone = ZoneInfo(timezone)
    lo, hi = (
        datetime.fromtimestamp(int(v) // 1_000_000, UTC).astimezone(zone).date()
        for v in (us.min(), us.max())
    )
    segments = offset_segments(timezone, lo, hi)
    if len(segments) == 1:
        shifted = us + segments[0][2]
    else:
        starts = np.array([s for s, _, _ in segments], dtype=np.int64)
        offsets = np.array([o for _, _, o in segments], dtype=np.int64)
        which = np.clip(np.searchsorted(starts, us, side="right") - 1, 0, None)
        shifted = us + offsets[which]
    return np.asarray(shifted // DAY_US, dtype=np.int64)
