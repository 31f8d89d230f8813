"""Funnels: how many users go from a first step through the next ones within a conversion window.

docs/funnels.md defines every rule; in short:

- The events are a user's behaviour (events with a name), anonymous ones merged at login,
  duplicates dropped at import; time to the microsecond.
- An attempt starts at any step-1 event on a local day of the range; each later step must
  happen within `window` of it (the end included), even after the range ends.
- `ordered`: step k is the first matching event at or after step k-1's time (the same instant
  counts), other events allowed between; `strict`: at step k-1's instant or the user's next
  instant with any event; `any`: steps 2..n in any order after step 1.
- One event never fills two steps: a step whose event name appeared earlier needs a later
  instant than that step (`any`: distinct instants per definition).
- A user counts at the furthest step reached from any of their attempts; times to convert come
  from that attempt (the earliest among equals).

The expression is set-based and grows linearly with the steps: times become integer
microseconds once, then each step is one as-of join (the first matching event at or after a
bound); `strict` adds one to find the next instant, `any` ranks the instants of a definition
needed several times. No join fans out: every attempt keeps exactly one row.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal, get_args

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from userops.analytics import indexed
from userops.analytics.base import Source, day_start, days_filter, epoch_micros, resolved_events
from userops.analytics.filters import (
    NO_FILTERS,
    OPS,
    PROPERTY_PREFIX,
    Filters,
    Op,
    PropertyFilter,
    breakdown_value,
    missing_user_matches,
    parse_by,
    parse_where,
    property_match,
    trait_match,
)
from userops.analytics.periods import check_range
from userops.analytics.results import group_order, ratio
from userops.errors import InputError

Order = Literal["ordered", "strict", "any"]
ORDERS: Final[tuple[Order, ...]] = get_args(Order)
MIN_STEPS: Final = 2
MAX_STEPS: Final = 20
MAX_WINDOW: Final = timedelta(days=366)
DEFAULT_WINDOW: Final = timedelta(days=7)

_WINDOW = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_KEY = re.compile(r"^\w+$")
_NO_MATCH: Final = 2**62  # an as-of bound no time reaches: the step is not sought
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
GROUP_COLUMN: Final = "grp"

# --- the definition -------------------------------------------------------------------------------


def parse_window(text: str) -> timedelta:
    """`30m`, `24h`, `7d` as a duration; InputError unless it is positive and at most 366 days."""
    match = _WINDOW.match(text)
    if not match:
        raise InputError(
            f"window {text!r} is not a duration like 30m, 24h or 7d (minutes, hours, days)"
        )
    count, unit = int(match[1]), _UNITS[match[2]]
    if count <= 0:
        raise InputError(f"window {text!r} must be longer than 0")
    if count > MAX_WINDOW // unit:  # before multiplying: a huge count overflows timedelta
        raise InputError(f"window {text!r} is longer than {MAX_WINDOW.days} days")
    return count * unit


def format_window(window: timedelta) -> str:
    """The shortest of `7d`, `36h`, `90m` that says `window` exactly."""
    minutes = int(window.total_seconds()) // 60
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def step_filter(key: str, op: str, value: Any = None) -> PropertyFilter:
    """A property filter of a step from its JSON form {key, op, value}.

    `value` is a string, number or boolean (a list of them for `in` / `not in`; none for
    `is set` / `is not set`). It matches a JSON string equal to its text, or a JSON number or
    boolean equal to it, as every metric's property filters do.
    """
    if not isinstance(key, str) or not _KEY.match(key):
        raise InputError(f"property key {key!r} is not letters, digits and underscores")
    if op not in OPS:
        raise InputError(f"property filter on {key!r}: op {op!r} is not one of {', '.join(OPS)}")
    operator: Op = op
    if operator in ("is set", "is not set"):
        if value is not None:
            raise InputError(f"property filter {key} {op} takes no value")
        return PropertyFilter(key, operator)
    if operator in ("in", "not in"):
        if not isinstance(value, list | tuple) or not value:
            raise InputError(f"property filter {key} {op} needs a non-empty list of values")
        return PropertyFilter(key, operator, tuple(_value_text(key, v) for v in value))
    if isinstance(value, list | tuple):
        raise InputError(f"property filter {key} {op} takes one value; use 'in' for a list")
    text = _value_text(key, value)
    if operator in (">", ">=", "<", "<=") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise InputError(f"property filter {key} {op} needs a number, not {value!r}")
    return PropertyFilter(key, operator, (text,))


def _value_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return str(value)
    if isinstance(value, str) and value != "":
        return value
    raise InputError(f"property filter on {key!r}: {value!r} is not a string, number or boolean")


_STEP_WHERE = re.compile(r"^\s*(\d+)\s*:(.*)$", re.DOTALL)


def parse_steps(text: str) -> list[str]:
    """`view_item,add_to_cart,purchase` as event names; an empty one is named."""
    names = [name.strip() for name in text.split(",")]
    for number, name in enumerate(names, 1):
        if not name:
            raise InputError(f"--steps {text!r}: step {number} has no event name")
    return names


def parse_funnel_where(
    items: Sequence[str] | None, steps: int
) -> tuple[Filters, dict[int, tuple[PropertyFilter, ...]]]:
    """Filters written as text, as for every metric (`channel=referral`, `prop.price>=100`),
    and `N:CONDITION` for a condition on step N's event properties only (`2:category=手机`;
    the `prop.` prefix may be left out there)."""
    common: list[str] = []
    per_step: dict[int, list[PropertyFilter]] = {}
    for item in items or ():
        match = _STEP_WHERE.match(item)
        if not match:
            common.append(item)
            continue
        number, condition = int(match[1]), match[2].strip()
        if not 1 <= number <= steps:
            raise InputError(f"filter {item!r}: the funnel has steps 1 to {steps}, not {number}")
        if not condition.startswith(PROPERTY_PREFIX):
            condition = PROPERTY_PREFIX + condition
        parsed = parse_where([condition])
        per_step.setdefault(number, []).extend(parsed.properties)
    return parse_where(common), {k: tuple(v) for k, v in per_step.items()}


@dataclass(frozen=True, slots=True)
class FunnelStep:
    event: str
    filters: tuple[PropertyFilter, ...] = ()

    @property
    def label(self) -> str:
        """`purchase`, or `view_item[prop.category=手机]` with filters."""
        if not self.filters:
            return self.event
        return f"{self.event}[{'; '.join(str(f) for f in self.filters)}]"


@dataclass(frozen=True, slots=True)
class FunnelSpec:
    """What to measure. Construction checks every part and names the bad one."""

    steps: tuple[FunnelStep, ...]
    start: date
    end: date
    window: timedelta = DEFAULT_WINDOW
    order: Order = "ordered"
    by: str | None = None
    filters: Filters = NO_FILTERS  # trait filters choose users; property filters every step

    def __post_init__(self) -> None:
        if not MIN_STEPS <= len(self.steps) <= MAX_STEPS:
            raise InputError(
                f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(self.steps)}"
            )
        for number, step in enumerate(self.steps, 1):
            if not step.event or not step.event.strip():
                raise InputError(f"funnel step {number}: the event name is empty")
        if not timedelta(0) < self.window <= MAX_WINDOW:
            raise InputError(
                f"window {self.window} must be longer than 0 and at most {MAX_WINDOW.days} days"
            )
        if self.order not in ORDERS:
            raise InputError(f"order {self.order!r} is not one of {', '.join(ORDERS)}")
        check_range(self.start, self.end)
        if self.by is not None and parse_by(self.by) != self.by:
            raise InputError(f"breakdown {self.by!r} has spaces around it")

    @classmethod
    def of(
        cls,
        events: Sequence[str | FunnelStep],
        *,
        start: date,
        end: date,
        window: str | timedelta = DEFAULT_WINDOW,
        order: str = "ordered",
        by: str | None = None,
        filters: Filters = NO_FILTERS,
    ) -> FunnelSpec:
        """From plain values: event names (or steps), a window like `7d`, an order name."""
        steps = tuple(s if isinstance(s, FunnelStep) else FunnelStep(s.strip()) for s in events)
        duration = parse_window(window) if isinstance(window, str) else window
        if order not in ORDERS:
            raise InputError(f"order {order!r} is not one of {', '.join(ORDERS)}")
        return cls(steps, start, end, duration, order, by, filters)


# --- the expression -------------------------------------------------------------------------------


def _c(name: str, k: int) -> str:
    return f"{name}{k}"


def _behaviour(source: Source, spec: FunnelSpec) -> ir.Table:
    """The events that can take part: uid, us (microseconds since the epoch), start (on a day
    of the range) and m1..mn (matches step k)."""
    ev = resolved_events(source)
    reach = timedelta(days=math.ceil(spec.window / timedelta(days=1)) + 1)  # DST-proof
    names = sorted({step.event for step in spec.steps})
    ev = ev.filter(
        ev.event.notnull() if spec.order == "strict" else ev.event.isin(names),
        days_filter(source, ev.timestamp, spec.start, spec.end + reach),
    )
    common = property_match(ev, spec.filters, source.engine)
    if common is not None:
        ev = ev.filter(common)
    matches = {}
    for k, step in enumerate(spec.steps, 1):
        match = ev.event == step.event
        extra = property_match(ev, Filters(properties=step.filters), source.engine)
        matches[_c("m", k)] = match & extra if extra is not None else match
    ev = ev.select(
        "uid",
        us=epoch_micros(source, ev.timestamp),
        start=days_filter(source, ev.timestamp, spec.start, spec.end),
        **matches,
    )
    if spec.order == "strict":  # strict needs every event: any of them breaks a sequence
        return ev
    return ev.filter(ibis.or_(*[ev[name] for name in matches]))


_INT: Final = dt.Int64(nullable=False)


def _matching(ev: ir.Table, k: int) -> ir.Table:
    """The (u, t) = (uid, us) of the events matching step k."""
    s = ev.filter(ev[_c("m", k)])
    return s.select(u=s.uid, t=s.us)


def _as_of(att: ir.Table, events: ir.Table, bound: ir.Value) -> tuple[ir.Table, list[str]]:
    """`att` as-of joined to the user's first row of `events` (u, t) with t at or after `bound`
    (no row when there is none or `bound` is null), and the columns of `att` to keep."""
    columns = [c for c in att.columns if c != "b"]
    att = att.mutate(b=_as_bound(bound))
    joined = att.asof_join(events, on=att.b <= events.t, predicates=[att.uid == events.u])
    return joined, columns


def _within(
    joined: ir.Table, found: ir.IntegerValue, window: int, keep: ir.BooleanValue | None = None
) -> ir.IntegerValue:
    """`found` when within the window of step 1 (and `keep`), else null."""
    ok = found <= joined.t1 + window
    return _null_unless(ok if keep is None else ok & keep, found)


def _null_unless(keep: ir.BooleanValue, value: ir.Value) -> ir.Value:
    return ibis.ifelse(keep.fill_null(False), value, ibis.null(value.type()))


def _larger(a: ir.IntegerValue, b: ir.IntegerValue) -> ir.IntegerValue:
    """max(a, b) of non-null values (SQL `greatest` treats nulls differently per engine)."""
    return ibis.ifelse(a >= b, a, b)


def _bound(columns: Mapping[str, ir.Value], spec: FunnelSpec, k: int) -> ir.IntegerValue:
    """Where step k's event may be: at or after step k-1's time; after it when an earlier step
    with the same event name happened at that very instant (one event never fills two steps)."""
    previous: ir.IntegerValue = columns[_c("t", k - 1)]
    same = [j for j in range(1, k) if spec.steps[j - 1].event == spec.steps[k - 1].event]
    if not same:
        return previous
    later = ibis.ifelse(columns[_c("t", same[-1])] == previous, 1, 0)
    return previous + later


def _columns(table: ir.Table) -> dict[str, ir.Value]:
    return {c: table[c] for c in table.columns}


def _as_bound(bound: ir.IntegerValue) -> ir.IntegerValue:
    """An as-of join bound, never null: a stopped attempt gets one no event reaches."""
    return ibis.ifelse(bound.isnull(), _NO_MATCH, bound).cast(_INT)


def _ordered(ev: ir.Table, att: ir.Table, spec: FunnelSpec, window: int) -> ir.Table:
    """Step k: the first matching event at or after the bound, by one as-of join."""
    for k in range(2, len(spec.steps) + 1):
        joined, keep = _as_of(att, _matching(ev, k), _bound(_columns(att), spec, k))
        att = joined.select(*keep, **{_c("t", k): _within(joined, joined.t, window)})
    return att


def _strict(ev: ir.Table, att: ir.Table, spec: FunnelSpec, window: int) -> ir.Table:
    """Step k: as in `ordered`, and at step k-1's instant or at the user's next instant with
    any event at all (found by a second as-of join, on every event)."""
    every = ev.select(u=ev.uid, t=ev.us)
    for k in range(2, len(spec.steps) + 1):
        previous = _c("t", k - 1)
        joined, keep = _as_of(att, every, att[previous] + 1)
        att = joined.select(*keep, nx=joined.t)
        joined, keep = _as_of(att, _matching(ev, k), _bound(_columns(att), spec, k))
        found = joined.t
        adjacent = (found == joined[previous]) | (found == joined.nx)
        att = joined.select(
            *[c for c in keep if c != "nx"],
            **{_c("t", k): _within(joined, found, window, adjacent)},
        )
    return att


def _any(ev: ir.Table, att: ir.Table, spec: FunnelSpec, window: int) -> ir.Table:
    """Step k: the m-th instant with an event matching its definition at or after step 1 (after
    it when step 1 has the same event name), m counting the steps among 2..k with that
    definition. t{k}, when steps 1..k were all done, is the latest of their times.

    A definition needed once is one as-of join. One needed more often ranks the instants of its
    events per user (a window over those events only), finds the rank of the first instant in
    reach by an as-of join, then each occurrence by an equality join on the rank.
    """
    total = Counter(spec.steps[1:])
    seen: Counter[FunnelStep] = Counter()
    ranked: dict[FunnelStep, tuple[ir.Table, str]] = {}
    for k in range(2, len(spec.steps) + 1):
        definition = spec.steps[k - 1]
        seen[definition] += 1
        bound = att.t1 + (1 if definition.event == spec.steps[0].event else 0)
        if total[definition] == 1:
            joined, keep = _as_of(att, _matching(ev, k), bound)
        else:
            if definition not in ranked:
                instants = _matching(ev, k).distinct()
                table = instants.mutate(
                    r=ibis.row_number().over(group_by=instants.u, order_by=instants.t).cast(_INT)
                )
                low = _c("low", k)
                found_rank, keep = _as_of(att, table, bound)
                att = found_rank.select(*keep, **{low: found_rank.r})
                ranked[definition] = (table, low)
            table, low = ranked[definition]
            table = table.view()  # joined again: a distinct reference
            want = att[low] + (seen[definition] - 1)
            joined = att.left_join(table, [att.uid == table.u, table.r == want])
            keep = list(att.columns)
        previous = joined[_c("t", k - 1)]
        done = _within(joined, joined.t, window, previous.notnull())
        att = joined.select(
            *keep, **{_c("t", k): _null_unless(done.notnull(), _larger(previous, done))}
        )
    return att


def funnel_users_expr(source: Source, spec: FunnelSpec) -> ir.Table:
    """One row per user with a step-1 event in the range: uid, grp (their breakdown value,
    null without a breakdown or trait), reached (1..n) and t1..tn, when the user had done
    steps 1..k in their best attempt, in microseconds since the epoch (null past `reached`)."""
    ev = _behaviour(source, spec)
    starts = ev.filter(ev.m1, ev.start)
    att = starts.select("uid", t1=starts.us)
    window = int(spec.window / timedelta(microseconds=1))
    chain = {"ordered": _ordered, "strict": _strict, "any": _any}[spec.order]
    att = chain(ev, att, spec, window)
    n = len(spec.steps)
    reached = sum(
        (att[_c("t", k)].notnull().cast(_INT) for k in range(2, n + 1)),
        ibis.literal(1, _INT),
    )
    att = att.mutate(reached=reached)
    att = att.mutate(
        pick=ibis.row_number().over(group_by=att.uid, order_by=[att.reached.desc(), att.t1])
    )
    att = att.filter(att.pick == 0)
    users = att.select("uid", "reached", *[_c("t", k) for k in range(1, n + 1)])
    return _scope(source, users, spec)


def _scope(source: Source, users: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Keep the users passing the trait filters and add `grp`, their breakdown value."""
    if not spec.filters.traits and spec.by is None:
        return users.mutate(grp=ibis.null(dt.string))
    table = source.table("users")
    match = trait_match(table, spec.filters, source.engine)
    traits = table.select(
        tu=table.user_id,
        tm=match if match is not None else ibis.literal(True),
        tg=breakdown_value(table, spec.by, source.engine)
        if spec.by is not None
        else ibis.null(dt.string),
    )
    joined = users.left_join(traits, users.uid == traits.tu)
    kept = joined.filter(joined.tm.fill_null(missing_user_matches(spec.filters)))
    return kept.select(*[kept[c] for c in users.columns], grp=kept.tg)


# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepResult:
    step: int
    event: str
    label: str
    count: int  # users who reached this step
    conversion: float | None  # count / step-1 count
    step_conversion: float | None  # count / previous step's count
    median_seconds: float | None  # from the previous step, over the users who reached this one
    median_seconds_from_first: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "event": self.event,
            "label": self.label,
            "count": self.count,
            "conversion": self.conversion,
            "step_conversion": self.step_conversion,
            "median_seconds": self.median_seconds,
            "median_seconds_from_first": self.median_seconds_from_first,
        }


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    key: str | None  # the breakdown value; None for users without it
    steps: tuple[StepResult, ...]


@dataclass(frozen=True, slots=True)
class Funnel:
    spec: FunnelSpec
    steps: tuple[StepResult, ...]
    breakdown: tuple[FunnelGroup, ...]
    users: pa.Table = field(repr=False, compare=False)  # uid, grp, reached: one row per user

    def as_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "from": spec.start.isoformat(),
            "to": spec.end.isoformat(),
            "window": format_window(spec.window),
            "order": spec.order,
            "by": spec.by,
            "filters": spec.filters.as_params(),
            "steps": [s.as_json() for s in self.steps],
            "breakdown": [
                {"key": g.key, "steps": [s.as_json() for s in g.steps]} for g in self.breakdown
            ],
        }

    def reached_users(self, step: int) -> list[str]:
        """Users who reached step `step` (1-based), sorted."""
        self._check_step(step, lowest=1)
        return self._uids(pc.greater_equal(self.users["reached"], step))

    def dropped_users(self, step: int) -> list[str]:
        """Users who dropped at step `step` (2..n): they reached the step before, not this one."""
        self._check_step(step, lowest=2)
        return self._uids(pc.equal(self.users["reached"], step - 1))

    def _check_step(self, step: int, *, lowest: int) -> None:
        n = len(self.spec.steps)
        if not lowest <= step <= n:
            raise InputError(f"step {step} is not a step of this funnel ({lowest} to {n})")

    def _uids(self, mask: pa.ChunkedArray) -> list[str]:
        uids: list[str] = self.users.filter(mask)["uid"].to_pylist()
        return sorted(uids)


def _median(values: np.ndarray) -> float | None:
    return round(float(np.median(values)) / 1e6, 3) if len(values) else None


def _steps(
    spec: FunnelSpec, reached: np.ndarray, times: list[np.ndarray]
) -> tuple[StepResult, ...]:
    """Counts, conversions and median times of the users given (reached, completion µs)."""
    counts = [int((reached >= k).sum()) for k in range(1, len(spec.steps) + 1)]
    out = []
    for k, step in enumerate(spec.steps, 1):
        mask = reached >= k
        since_prev = since_first = None
        if k > 1:
            since_prev = _median(times[k - 1][mask] - times[k - 2][mask])
            since_first = _median(times[k - 1][mask] - times[0][mask])
        out.append(
            StepResult(
                step=k,
                event=step.event,
                label=step.label,
                count=counts[k - 1],
                conversion=ratio(counts[k - 1], counts[0]),
                step_conversion=ratio(counts[k - 1], counts[max(k - 2, 0)]),
                median_seconds=since_prev,
                median_seconds_from_first=since_first,
            )
        )
    return tuple(out)


def _micros(column: pa.ChunkedArray) -> np.ndarray:
    as_int = pc.fill_null(pc.cast(column, pa.int64()), 0)
    return np.asarray(as_int.to_numpy(zero_copy_only=False), dtype=np.int64)


def funnel_from_rows(spec: FunnelSpec, rows: pa.Table) -> Funnel:
    """The result from the rows of `funnel_users_expr` (any engine)."""
    n = len(spec.steps)
    reached = np.asarray(
        pc.cast(rows["reached"], pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    times = [_micros(rows[_c("t", k)]) for k in range(1, n + 1)]
    overall = _steps(spec, reached, times)
    groups: list[FunnelGroup] = []
    if spec.by is not None:
        grp = pc.cast(rows["grp"], pa.string())
        for key in group_order(pc.unique(grp).to_pylist()):
            same = pc.is_null(grp) if key is None else pc.fill_null(pc.equal(grp, key), False)
            mask = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
            groups.append(FunnelGroup(key, _steps(spec, reached[mask], [t[mask] for t in times])))
    users = pa.table(
        {
            "uid": pc.cast(rows["uid"], pa.string()),
            "grp": pc.cast(rows["grp"], pa.string()),
            "reached": pa.array(reached),
        }
    )
    return Funnel(spec, overall, tuple(groups), users)


def funnel(source: Source, spec: FunnelSpec) -> Funnel:
    """Run the funnel on the warehouse (or any `Source` bound to a backend): on the event index
    when it applies (`analytics.indexed`), else by `funnel_users_expr`."""
    rows = _indexed_rows(source, spec)
    if rows is None:
        rows = funnel_users_expr(source, spec).to_pyarrow()
    return funnel_from_rows(spec, rows)


def _indexed_rows(source: Source, spec: FunnelSpec) -> pa.Table | None:
    """The rows of `funnel_users_expr`, computed on the event index; None when it does not apply
    (conditions on events are read by the expression only)."""
    if spec.filters.properties or any(step.filters for step in spec.steps):
        return None
    micros = timedelta(microseconds=1)
    found = indexed.funnel_paths(
        source,
        steps=[step.event for step in spec.steps],
        since_us=(day_start(source.timezone, spec.start) - _EPOCH) // micros,
        until_us=(day_start(source.timezone, spec.end + timedelta(days=1)) - _EPOCH) // micros,
        window_us=spec.window // micros,
        order=spec.order,
    )
    if found is None:
        return None
    index, paths = found
    users = paths.rows(index)
    if not spec.filters.traits and spec.by is None:
        return users.append_column(GROUP_COLUMN, pa.nulls(users.num_rows, pa.string()))
    return _scope(source, ibis.memtable(users), spec).to_pyarrow()
