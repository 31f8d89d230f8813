"""Badges (勋章): achievements earned once, or in tiers, each with the day it was earned.

- `event_count`: the Nth event E (with property filters): "first purchase" is one tier at 1,
  "10 orders" a tier at 10; tiers (bronze 1, silver 10, gold 50) are earned one by one, each at
  the time of the event that reached it;
- `streak`: N consecutive local days with event E ("30-day streak"), earned on the day the run
  first reaches N;
- `top_rank`: a finished leaderboard period in which the user ranked N or better ("top
  contributor": tier thresholds are ranks, smaller is better), earned at the period's end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal, get_args

from userops.domain.membership.points import MAX_POINTS
from userops.errors import InputError

BadgeKind = Literal["event_count", "streak", "top_rank"]
BADGE_KINDS: Final[tuple[str, ...]] = get_args(BadgeKind)


@dataclass(frozen=True, slots=True)
class Tier:
    threshold: int
    name: str


def check_tiers(kind: BadgeKind, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Tiers in the order they are earned: rising counts, or falling ranks for `top_rank`."""
    if kind not in BADGE_KINDS:
        raise InputError(f"badge kind {kind!r} is not one of {', '.join(BADGE_KINDS)}")
    if not tiers:
        raise InputError("a badge needs at least one tier (one tier: a one-time badge)")
    if any(t.threshold < 1 for t in tiers):
        raise InputError("tier thresholds must be 1 or more")
    if any(t.threshold > MAX_POINTS for t in tiers):
        raise InputError(f"tier thresholds must be at most {MAX_POINTS}")
    ordered = sorted(tiers, key=lambda t: -t.threshold if kind == "top_rank" else t.threshold)
    if len({t.threshold for t in ordered}) != len(ordered):
        raise InputError("tier thresholds must be different")
    return tuple(ordered)


@dataclass(frozen=True, slots=True)
class Earned:
    """Tier number (1 = first earned) and when."""

    tier: int
    name: str
    at: datetime


def count_tiers(tiers: Sequence[Tier], times: Iterable[datetime]) -> tuple[Earned, ...]:
    """The tiers a user's matching event times reach, each at the time of the Nth event."""
    ordered = sorted(times)
    return tuple(
        Earned(index, tier.name, ordered[tier.threshold - 1])
        for index, tier in enumerate(tiers, start=1)
        if len(ordered) >= tier.threshold
    )


def streak_tiers(tiers: Sequence[Tier], days: Iterable[date]) -> tuple[tuple[int, str, date], ...]:
    """(tier, name, day) for each streak tier reached: the first day a run of consecutive local
    days with the event reaches the tier's length."""
    reached: dict[int, date] = {}
    run, previous = 0, None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        previous = day
        for index, tier in enumerate(tiers, start=1):
            if index not in reached and run >= tier.threshold:
                reached[index] = day
    return tuple((index, tiers[index - 1].name, day) for index, day in sorted(reached.items()))


def rank_tiers(tiers: Sequence[Tier], rank: int) -> tuple[tuple[int, str], ...]:
    """(tier, name) of the `top_rank` tiers a rank earns (rank 1 earns every tier up to 1)."""
    return tuple(
        (index, tier.name) for index, tier in enumerate(tiers, start=1) if rank <= tier.threshold
    )
