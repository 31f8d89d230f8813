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

    def apply(self, ukey: Keys) -> tuple[Ints | None, Keys | None]:
        """(rows kept, or None for all; each kept row's group number, or None for all 0)."""
        if self.keep is None or self.group is None:
            return None, None
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
    """`periods.index` of local day numbers (for days: the same array)."""
    if period == "day":
        return day
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


def _count(*given: Ints | None) -> tuple[list[Ints], Ints]:
    """The distinct rows of integer columns (sorted) and how many times each occurs; a None
    column is all zeros."""
    n = next(len(c) for c in given if c is not None)
    columns = [c if c is not None else np.zeros(n, dtype=np.int32) for c in given]
    if not n:
        return [c[:0].astype(np.int64) for c in columns], np.empty(0, dtype=np.int64)
    lows = [int(c.min()) if g is not None else 0 for c, g in zip(columns, given, strict=True)]
    spans = [
        int(c.max()) - low + 1 if g is not None else 1
        for c, g, low in zip(columns, given, lows, strict=True)
    ]
    total = math.prod(spans)
    if total >= 2**62:
        rows, counts = np.unique(np.stack(columns).astype(np.int64), axis=1, return_counts=True)
        return list(rows), counts
    key: Ints | None = None
    for c, low, span in zip(columns, lows, spans, strict=True):
        if span == 1:
            continue  # a constant column adds nothing to the key
        part = c - low if low else c
        key = part.astype(np.int64) if key is None else key * span + part
    if key is None:
        return [np.array([low], dtype=np.int64) for low in lows], np.array([n], dtype=np.int64)
    if total <= max(4 * n, 1 << 16):  # a dense table of counts is cheaper than sorting
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
    number = period_index(day, period)
    if period != "day":  # (user, day) pairs are distinct already
        ukey, number = distinct_pairs(ukey, number)
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
    kept, scoped = scope.apply(ukey)
    if kept is not None:
        ukey, day = ukey[kept], day[kept]
    group = scoped if scoped is not None else np.zeros(len(ukey), dtype=np.int32)
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
    # By ukey: in a cohort, the cohort's period number, the group's number.
    if basis == "first_activity":
        member, cohort, group, groups = _first_activity(
            source, index, period, first, last, filters, by
        )
    else:
        member, cohort, group, groups = _signups(source, index, period, first, last, filters, by)
    ukey, day = index.user_days(return_event)
    mine = member[ukey]
    mine &= day >= day_number(first)
    mine &= day <= day_number(last)
    ukey, back = ukey[mine], period_index(day[mine], period)
    if period != "day":
        ukey, back = distinct_pairs(ukey, back)
    k = back - cohort[ukey]
    if unbounded:
        # Each user once, at the last period they were active in (capped at `periods`).
        ok = k >= 0
        ukey, k = ukey[ok], k[ok]
        if len(ukey):
            starts = np.flatnonzero(np.append(True, ukey[1:] != ukey[:-1]))
            k = np.minimum(np.maximum.reduceat(k, starts), periods)
            ukey = ukey[starts]
    else:
        ok = (k >= 0) & (k <= periods)
        ukey, k = ukey[ok], k[ok]
    (sg, sc), sn = _count(group[member] if group is not None else None, cohort[member])
    (cg, cc, ck), cn = _count(group[ukey] if group is not None else None, cohort[ukey], k)
    return (
        [
            {"cohort": period_first_day(int(c), period), GROUP: groups[g], "size": int(n)}
            for g, c, n in zip(sg, sc, sn, strict=True)
        ],
        [
            {
                "cohort": period_first_day(int(c), period),
                GROUP: groups[g],
                "k": int(kk),
                "users": int(n),
            }
            for g, c, kk, n in zip(cg, cc, ck, cn, strict=True)
        ],
    )


_Cohorts = tuple[Ints, Ints, Keys | None, tuple[str | None, ...]]


def _first_activity(
    source: Source,
    index: EventIndex,
    period: Period,
    first: date,
    last: date,
    filters: Filters,
    by: str | None,
) -> _Cohorts:
    """Cohorts by the period of each user's first event ever (every ukey has one)."""
    ukey, day = index.user_days()
    firsts = day[np.flatnonzero(np.append(True, ukey[1:] != ukey[:-1]))] if len(ukey) else day
    member = (firsts >= day_number(first)) & (firsts <= day_number(last))
    scope = _scope(source, index, filters, by)
    group = None
    if scope.keep is not None and scope.group is not None:
        member &= scope.keep
        group = scope.group
    return member, period_index(firsts, period).astype(np.int64), group, scope.groups


def _signups(
    source: Source,
    index: EventIndex,
    period: Period,
    first: date,
    last: date,
    filters: Filters,
    by: str | None,
) -> _Cohorts:
    """Cohorts by signup: every user signed up in the range is counted, with or without events;
    only those with events can return."""
    joined = signups(source, filters, by, since=first, until=last)
    known = uid_table(index)
    joined = joined.left_join(known, joined.uid == known.uid)
    signed = joined.select(joined.ukey, joined.day, joined[GROUP]).to_pyarrow()
    encoded = signed[GROUP].combine_chunks().dictionary_encode()
    names = [str(x) for x in encoded.dictionary.to_pylist()]
    codes = np.asarray(
        encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False), dtype=np.int32
    )
    days = np.array([day_number(d) for d in signed["day"].to_pylist()], dtype=np.int32)
    numbers = period_index(days, period).astype(np.int64)
    ukeys = signed["ukey"].combine_chunks()
    has = np.asarray(ukeys.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    at = np.asarray(ukeys.filter(ukeys.is_valid()).to_numpy(), dtype=np.int64)
    # Users without events get keys past the index's, so sizes count them and nothing else.
    users = index.users + int((~has).sum())
    at = np.concatenate([at, np.arange(index.users, users)])
    order = np.concatenate([np.flatnonzero(has), np.flatnonzero(~has)])
    member = np.zeros(users, dtype=bool)
    member[at] = True
    cohort = np.zeros(users, dtype=np.int64)
    cohort[at] = numbers[order]
    group = np.zeros(users, dtype=np.int32)
    group[at] = codes[order]
    return member, cohort, group, (*names, None)


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
    positions (bounds and positions both ascending): no join, no sort. None when the index
    does not apply."""
    if order not in ("ordered", "strict"):
        return None
    index = event_index(source)
    if index is None:
        return None
    us = index.us
    at = index.positions(steps[0])
    t1 = us[at]
    chosen = (t1 >= since_us) & (t1 < until_us)
    at, t1 = at[chosen], t1[chosen]
    owner = index.ukey[at]
    n, attempts = len(steps), len(at)
    reached = np.ones(attempts, dtype=np.int64)
    hits: list[tuple[Ints, Ints]] = []  # per step 2..n: the attempts that did it, and where
    # Per attempt still tracked (`ids`): whether it is still going, the position and time of
    # its last step, its deadline and the end of its user's rows, and the times of the steps
    # a later step with the same name looks back to (`kept_times`). Stopped attempts keep their
    # position (the positions stay nearly ascending, which keeps the searches local) and are
    # dropped from the arrays once they are a tenth of them.
    end = len(us)
    ids, going, where, prev = np.arange(attempts), np.ones(attempts, dtype=bool), at, t1
    deadline, limit = t1 + window_us, index.user_end[owner]
    looked_back = {_same_before(steps, k) for k in range(1, n)} - {None}
    kept_times: dict[int, Ints] = {0: t1} if 0 in looked_back else {}
    for k in range(1, n):
        if not len(ids):
            break
        bound = index.instant_start(where)
        same = _same_before(steps, k)
        if same is not None:  # one event never fills two steps: a later instant than that one
            later = np.flatnonzero(going & (kept_times[same] == prev))
            bound[later] = index.instant_end(where[later])
        found = index.next_at(steps[k], bound)
        when = us[np.minimum(found, end - 1)]
        ok = going & (found < limit) & (when <= deadline)  # the same user's, in the window
        if order == "strict":  # at step k-1's instant or at the user's next one
            after = index.next_named(index.instant_end(where))
            ok &= (when == prev) | ((after < limit) & (when == us[np.minimum(after, end - 1)]))
        done = np.flatnonzero(ok)
        hits.append((ids[done], found[done]))
        reached[ids[done]] = k + 1
        if k in looked_back:
            kept_times[k] = when
        going, where, prev = ok, np.where(ok, found, where), when
        if 10 * len(done) < 9 * len(ids):  # searching for stopped ones costs more
            ids, going, where, prev, deadline, limit, *rest = (
                a[done] for a in (ids, going, where, prev, deadline, limit, *kept_times.values())
            )
            kept_times = dict(zip(kept_times, rest, strict=True))
    if not attempts:
        return index, Paths(owner, reached, np.full((n, 0), -1, dtype=np.int64))
    # Per user (attempts are in (ukey, time) order): the furthest reached, then the earliest.
    starts = np.flatnonzero(np.append(True, owner[1:] != owner[:-1]))
    best = np.repeat(np.maximum.reduceat(reached, starts), np.diff(np.append(starts, attempts)))
    top = np.flatnonzero(reached == best)
    pick = top[np.append(True, owner[top][1:] != owner[top][:-1])]
    times = np.full((n, len(pick)), -1, dtype=np.int64)
    times[0] = t1[pick]
    slot = np.empty(attempts, dtype=np.int64)  # an attempt's row in a step's hits
    for k, (done_ids, done_at) in enumerate(hits, 1):
        mine = np.flatnonzero(reached[pick] > k)
        slot[done_ids] = np.arange(len(done_ids))
        times[k, mine] = us[done_at[slot[pick[mine]]]]
    return index, Paths(owner[pick], reached[pick], times)


def _same_before(steps: Sequence[str], k: int) -> int | None:
    """The last step before step k (0-based) with the same event name, if any."""
    same = [j for j in range(k) if steps[j] == steps[k]]
    return same[-1] if same else None
