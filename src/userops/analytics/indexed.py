"""Metrics computed on the event index (`analytics.eventindex`) instead of by an expression.

Each function gives exactly the rows the portable expression of its metric would fetch (the
same keys, the same numbers), so the metric's own code shapes the result either way; it
returns None when the index does not apply (not a DuckDB warehouse, event property filters, a
funnel step with conditions, an `any` funnel), and the metric then runs its expression.
Trait filters and breakdowns go through the same `scope.in_scope` join as the expressions, on
the index's distinct users. tests/analytics/test_indexed.py holds both ways equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from userops.analytics.base import Source
from userops.analytics.eventindex import (
    EventIndex,
    Ints,
    Keys,
    day_number,
    day_of,
    distinct_pairs,
    event_index,
    uid_table,
)
from userops.analytics.filters import Filters
from userops.analytics.periods import Period
from userops.analytics.scope import GROUP, in_scope, signups
from userops.errors import InputError

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Scope:
    """Who passes the trait filters (`keep`, by ukey; None: everyone) and their group's
    position in `groups` (by ukey)."""

    keep: Ints | None
    group: Keys | None
    groups: tuple[str | None, ...]

    def apply(self, ukey: Keys) -> tuple[Ints | None, Keys]:
        """(rows kept, or None for all; each kept row's group number)."""
        if self.keep is None or self.group is None:
            return None, np.zeros(len(ukey), dtype=np.int32)
        kept = self.keep[ukey]
        return kept, self.group[ukey[kept]]


def _index(source: Source, filters: Filters, event: str | None = None) -> EventIndex | None:
    if event is not None and not event.strip():
        raise InputError("the event name is empty")
    if filters.properties:
        return None  # property filters choose events: only the expressions read properties
    return event_index(source)


def _scope(source: Source, index: EventIndex, filters: Filters, by: str | None) -> _Scope:
    if not filters.traits and by is None:
        return _Scope(None, None, (None,))
    rows = in_scope(source, uid_table(index), filters, by).select("ukey", GROUP).to_pyarrow()
    encoded = rows[GROUP].combine_chunks().dictionary_encode()
    groups: list[str | None] = [str(g) for g in encoded.dictionary.to_pylist()]
    codes = np.asarray(
        encoded.indices.fill_null(len(groups)).to_numpy(zero_copy_only=False), dtype=np.int32
    )
    ukeys = np.asarray(rows["ukey"].to_numpy(), dtype=np.int64)
    keep = np.zeros(index.users, dtype=bool)
    keep[ukeys] = True
    group = np.zeros(index.users, dtype=np.int32)
    group[ukeys] = codes
    return _Scope(keep, group, (*groups, None))


# --- periods --------------------------------------------------------------------------------------


def period_index(day: Keys, period: Period) -> Ints:
    """`periods.index` of local day numbers."""
    days = day.astype(np.int64)
    if period == "week":
        monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
        return (monday - 4) // 7  # counted from Monday 1970-01-05, as periods.index_of
    if period == "month":
        months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return months + 1970 * 12
    return days


def period_first_day(number: int, period: Period) -> date:
    """The first day of the period numbered `number` by `period_index`."""
    if period == "week":
        return day_of(number * 7 + 4)
    if period == "month":
        return date(number // 12, number % 12 + 1, 1)
    return day_of(number)


def _count(*columns: Ints) -> tuple[list[Ints], Ints]:
    """The distinct rows of integer columns (sorted) and how many times each occurs."""
    if not len(columns[0]):
        return [c[:0].astype(np.int64) for c in columns], np.empty(0, dtype=np.int64)
    lows = [int(c.min()) for c in columns]
    spans = [int(c.max()) - low + 1 for c, low in zip(columns, lows, strict=True)]
    if math.prod(spans) >= 2**62:
        rows, counts = np.unique(np.stack(columns).astype(np.int64), axis=1, return_counts=True)
        return list(rows), counts
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for c, low, span in zip(columns, lows, spans, strict=True):
        key = key * span + (c.astype(np.int64) - low)
    total = math.prod(spans)
    if total <= max(4 * len(key), 1 << 16):  # a dense table of counts is cheaper than sorting
        tally = np.bincount(key, minlength=total)
        keys = np.flatnonzero(tally)
        counts = tally[keys]
    else:
        keys, counts = np.unique(key, return_counts=True)
    out = []
    for low, span in reversed(list(zip(lows, spans, strict=True))):
        out.append(keys % span + low)
        keys = keys // span
    return out[::-1], counts


def _in_days(ukey: Keys, day: Keys, first: date, last: date) -> tuple[Keys, Keys]:
    sel = (day >= day_number(first)) & (day <= day_number(last))
    return ukey[sel], day[sel]


# --- activity -------------------------------------------------------------------------------------


def active_rows(
    source: Source,
    *,
    period: Period,
    first: date,
    last: date,
    event: str | None,
    filters: Filters,
    by: str | None,
) -> list[Row] | None:
    """The rows of `activity.active_users_expr`: grp, date, active."""
    index = _index(source, filters, event)
    if index is None:
        return None
    scope = _scope(source, index, filters, by)
    ukey, day = _in_days(*index.user_days(event), first, last)
    ukey, number = distinct_pairs(ukey, period_index(day, period))
    kept, group = scope.apply(ukey)
    if kept is not None:
        number = number[kept]
    (groups, numbers), counts = _count(group, number)
    return [
        {GROUP: scope.groups[g], "date": period_first_day(int(p), period), "active": int(n)}
        for g, p, n in zip(groups, numbers, counts, strict=True)
    ]


def stickiness_rows(
    source: Source,
    *,
    start: date,
    end: date,
    windows: Sequence[int],
    event: str | None,
    filters: Filters,
    by: str | None,
) -> tuple[list[Row], list[Row]] | None:
    """The rows of `activity.stickiness_exprs`: (grp, didx, dau) and (grp, window, didx, n)."""
    index = _index(source, filters, event)
    if index is None:
        return None
    scope = _scope(source, index, filters, by)
    ukey, day = _in_days(*index.user_days(event), start - timedelta(days=max(windows) - 1), end)
    kept, group = scope.apply(ukey)
    if kept is not None:
        ukey, day = ukey[kept], day[kept]
    first = day_number(start)
    shown = day >= first
    (groups, days), counts = _count(group[shown], day[shown])
    daily = [
        {GROUP: scope.groups[g], "didx": int(d), "dau": int(n)}
        for g, d, n in zip(groups, days, counts, strict=True)
    ]
    deltas: list[Row] = []
    for window in windows:
        sel = day >= first - (window - 1)
        u, d, g = ukey[sel], day[sel].astype(np.int64), group[sel]
        if not len(u):
            continue
        # Runs of active days less than a window apart are one island, covering lo .. hi - 1.
        starts = np.ones(len(u), dtype=bool)
        starts[1:] = (u[1:] != u[:-1]) | (d[1:] - d[:-1] > window)
        begin = np.flatnonzero(starts)
        finish = np.append(begin[1:] - 1, len(u) - 1)
        for edge, sign in ((d[begin], 1), (d[finish] + window, -1)):
            (groups, days), counts = _count(g[begin], edge)
            deltas += [
                {GROUP: scope.groups[gg], "window": window, "didx": int(dd), "n": int(n) * sign}
                for gg, dd, n in zip(groups, days, counts, strict=True)
            ]
    return daily, deltas


# --- retention ------------------------------------------------------------------------------------


def retention_rows(
    source: Source,
    *,
    period: Period,
    periods: int,
    first: date,
    last: date,
    basis: str,
    return_event: str | None,
    unbounded: bool,
    filters: Filters,
    by: str | None,
) -> tuple[list[Row], list[Row]] | None:
    """The rows of `retention.retention_exprs`: (cohort, grp, size) and (cohort, grp, k, users)."""
    index = _index(source, filters, return_event)
    if index is None:
        return None
    users = index.users
    member = np.zeros(users, dtype=bool)
    cohort = np.zeros(users, dtype=np.int64)  # the cohort's period number, by ukey
    if basis == "first_activity":
        ukey, day = index.user_days()
        if len(ukey):
            starts = np.flatnonzero(np.append(True, ukey[1:] != ukey[:-1]))
            firsts = day[starts]  # every ukey has events: starts[k] is ukey k's first day
            member = (firsts >= day_number(first)) & (firsts <= day_number(last))
            cohort = period_index(firsts, period)
        scope = _scope(source, index, filters, by)
        kept, group_of = scope.apply(np.arange(users, dtype=np.int32))
        if kept is not None:
            member &= kept
        groups = scope.groups
        group = np.zeros(users, dtype=np.int32)
        if kept is not None:
            group[kept] = group_of
        (g, c), sizes = _count(group[member], cohort[member])
        size_rows = _rows(groups, g, c, period, size=sizes)
    else:
        joined = signups(source, filters, by, since=first, until=last)
        known = uid_table(index)
        joined = joined.left_join(known, joined.uid == known.uid)
        signed = joined.select(joined.ukey, joined.day, joined[GROUP]).to_pyarrow()
        encoded = signed[GROUP].combine_chunks().dictionary_encode()
        names = [str(x) for x in encoded.dictionary.to_pylist()]
        groups = (*names, None)
        codes = np.asarray(
            encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False), dtype=np.int32
        )
        days = np.array([day_number(d) for d in signed["day"].to_pylist()], dtype=np.int64).astype(
            np.int32
        )
        numbers = period_index(days, period)
        (g, c), sizes = _count(codes, numbers)
        size_rows = _rows(groups, g, c, period, size=sizes)
        ukeys = signed["ukey"].combine_chunks()
        has = np.asarray(ukeys.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        at = np.asarray(ukeys.filter(ukeys.is_valid()).to_numpy(), dtype=np.int64)
        member[at] = True
        cohort[at] = numbers[has]
        group = np.zeros(users, dtype=np.int32)
        group[at] = codes[has]
    ukey, day = _in_days(*index.user_days(return_event), first, last)
    ukey, back = distinct_pairs(ukey, period_index(day, period))
    mine = member[ukey]
    ukey, back = ukey[mine], back[mine]
    k = back - cohort[ukey]
    ok = k >= 0
    ukey, k = ukey[ok], k[ok]
    if unbounded:
        # Each user once, at the last period they were active in (capped at `periods`).
        if len(ukey):
            starts = np.flatnonzero(np.append(True, ukey[1:] != ukey[:-1]))
            k = np.minimum(np.maximum.reduceat(k, starts), periods)
            ukey = ukey[starts]
    else:
        ok = k <= periods
        ukey, k = ukey[ok], k[ok]
    (g, c, kk), users_at = _count(group[ukey], cohort[ukey], k)
    count_rows = _rows(groups, g, c, period, users=users_at, k=kk)
    return size_rows, count_rows


def _rows(
    groups: Sequence[str | None],
    group: Ints,
    cohort: Ints,
    period: Period,
    *,
    k: Ints | None = None,
    **value: Ints,
) -> list[Row]:
    [(name, counts)] = value.items()
    out = []
    for i, (g, c, n) in enumerate(zip(group, cohort, counts, strict=True)):
        row: Row = {"cohort": period_first_day(int(c), period), GROUP: groups[g], name: int(n)}
        if k is not None:
            row["k"] = int(k[i])
        out.append(row)
    return out


# --- funnels --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paths:
    """Each user's best attempt: `ukey`, `reached` (1..n) and `times[k-1]`, when step k was
    done (microseconds since the epoch; -1 past `reached`)."""

    ukey: Keys
    reached: Ints
    times: Ints

    def rows(self, index: EventIndex) -> pa.Table:
        """As the rows of `funnels.funnel_users_expr` before its trait scope: uid, reached, t1.."""
        columns: dict[str, pa.Array] = {
            "uid": index.uids.take(pa.array(self.ukey)),
            "reached": pa.array(self.reached, type=pa.int64()),
        }
        for k, times in enumerate(self.times, 1):
            columns[f"t{k}"] = pa.array(times, type=pa.int64(), mask=times < 0)
        return pa.table(columns)


def funnel_paths(
    source: Source,
    *,
    steps: Sequence[str],
    since_us: int,
    until_us: int,
    window_us: int,
    order: str,
) -> tuple[EventIndex, Paths] | None:
    """An `ordered` or `strict` funnel of plain event names (no conditions) on the index:
    attempts at step-1 events in [since_us, until_us), each next step the first matching
    event at or after its bound (docs/funnels.md), found by a binary search among that event's
    positions: no join, no sort. None when the index does not apply."""
    if order not in ("ordered", "strict"):
        return None
    index = event_index(source)
    if index is None:
        return None
    ukey, us = index.ukey, index.us
    at = index.positions(steps[0])
    t1 = us[at]
    chosen = (t1 >= since_us) & (t1 < until_us)
    at, t1 = at[chosen], t1[chosen]
    owner = ukey[at]
    n, attempts = len(steps), len(at)
    times = np.full((n, attempts), -1, dtype=np.int64)
    times[0] = t1
    alive = np.arange(attempts)
    where = at.copy()
    for k in range(1, n):
        if not len(alive):
            break
        here, prev = where[alive], times[k - 1, alive]
        bound = index.instant_start(here)
        same = [j for j in range(k) if steps[j] == steps[k]]
        if same:  # one event never fills two steps: a later instant than that step's
            later = np.flatnonzero(times[same[-1], alive] == prev)
            bound[later] = index.instant_end(here[later])
        candidates = index.positions(steps[k])
        if not len(candidates):
            break
        q = np.searchsorted(candidates, bound)
        found = candidates[np.minimum(q, len(candidates) - 1)]
        ok = (q < len(candidates)) & (ukey[found] == owner[alive])
        ok &= us[found] <= times[0, alive] + window_us
        if order == "strict":  # at step k-1's instant or at the user's next one
            named = index.named
            qn = np.searchsorted(named, index.instant_end(here))
            nxt = named[np.minimum(qn, max(len(named) - 1, 0))]
            has_next = (qn < len(named)) & (ukey[nxt] == owner[alive])
            ok &= (us[found] == prev) | (has_next & (us[found] == us[nxt]))
        alive, found = alive[ok], found[ok]
        times[k, alive] = us[found]
        where[alive] = found
    reached = (times >= 0).sum(axis=0).astype(np.int64)
    if not attempts:
        return index, Paths(owner, reached, times)
    # Per user (attempts are in (ukey, time) order): the furthest reached, then the earliest.
    starts = np.flatnonzero(np.append(True, owner[1:] != owner[:-1]))
    best = np.repeat(np.maximum.reduceat(reached, starts), np.diff(np.append(starts, attempts)))
    top = np.flatnonzero(reached == best)
    pick = top[np.append(True, owner[top][1:] != owner[top][:-1])]
    return index, Paths(owner[pick], reached[pick], times[:, pick])
