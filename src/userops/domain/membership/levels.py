"""Level schemes (等级): thresholds on growth value and the policy that moves users between them.

A scheme orders its levels by rank (L1 < L2 < ..., or silver < gold < platinum < diamond); a
level is earned when the user's growth value over the scheme's window reaches its threshold.
Two policies:

- `only_up` (只进不退): a level once reached is never lost;
- `up_down` (可进可退): a user whose earned level falls below the current one enters a keep
  period (保级) of `keep_days`; a notice is given `notice_days` before the downgrade; if still
  below on the downgrade day they move down to the level they earn that day. Reaching the
  current level again during the keep period ends it.

Invitation-only levels are never earned: an operator assigns them (any level can be assigned),
optionally until a day; while an assignment holds, evaluation only ever moves the user up.
Evaluation is by local day: `evaluate(..., on=D)` sees the growth value of the window ending D.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final, Literal, get_args

from userops.domain.membership.periods import add_months
from userops.domain.membership.points import MAX_POINTS
from userops.errors import InputError

Policy = Literal["only_up", "up_down"]
POLICIES: Final[tuple[str, ...]] = get_args(Policy)

ChangeKind = Literal[
    "upgrade", "downgrade", "notice", "keep_started", "keep_cleared", "assigned", "unassigned"
]
CHANGE_KINDS: Final[tuple[str, ...]] = get_args(ChangeKind)
MOVES: Final[frozenset[str]] = frozenset({"upgrade", "downgrade", "assigned", "unassigned"})
"""The kinds of history entry that change a user's level (the others only record a step)."""


@dataclass(frozen=True, slots=True)
class LevelDef:
    """One level of a scheme. `rank` orders levels (higher is better)."""

    id: int
    code: str
    name: str
    rank: int
    threshold: int
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class LevelPolicy:
    """How a scheme moves users. `window_months=None` counts all growth value ever earned."""

    policy: Policy = "only_up"
    window_months: int | None = None
    keep_days: int = 0
    notice_days: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InputError(f"policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if self.window_months is not None and not 1 <= self.window_months <= 1200:
            raise InputError("the evaluation window must be 1 to 1200 months (or none)")
        if not 0 <= self.keep_days <= 3660 or not 0 <= self.notice_days <= 3660:
            raise InputError("keep and notice periods must be 0 to 3660 days")

    def window_first_day(self, on: date) -> date | None:
        """The first local day whose growth value counts on day `on` (None: since forever).

        "The last 12 months" on 2026-03-15 is 2025-03-16 through 2026-03-15.
        """
        if self.window_months is None:
            return None
        return add_months(on, -self.window_months) + timedelta(days=1)


def check_levels(levels: Sequence[LevelDef]) -> None:
    """Ranks and codes unique; earned thresholds rise with rank; thresholds 0 to MAX_POINTS."""
    ranks = [level.rank for level in levels]
    codes = [level.code for level in levels]
    if len(set(ranks)) != len(ranks) or len(set(codes)) != len(codes):
        raise InputError("level codes and ranks must be unique within a scheme")
    earned = sorted((lvl for lvl in levels if not lvl.invite_only), key=lambda lvl: lvl.rank)
    for lower, higher in itertools.pairwise(earned):
        if higher.threshold <= lower.threshold:
            raise InputError(
                f"level {higher.code!r} (rank {higher.rank}) needs a threshold above "
                f"{lower.code!r}'s {lower.threshold}, not {higher.threshold}"
            )
    if any(level.threshold < 0 for level in levels):
        raise InputError("level thresholds must be 0 or more")
    for level in levels:
        if level.threshold > MAX_POINTS:
            raise InputError(
                f"level thresholds must be at most {MAX_POINTS}: level {level.code!r} has "
                f"{level.threshold}"
            )


def earned_level(levels: Sequence[LevelDef], growth: int) -> LevelDef | None:
    """The highest level (not invitation-only) whose threshold `growth` reaches."""
    reached = [lvl for lvl in levels if not lvl.invite_only and lvl.threshold <= growth]
    return max(reached, key=lambda lvl: lvl.rank, default=None)


def _rank(level: LevelDef | None) -> int:
    return -(2**62) if level is None else level.rank


@dataclass(frozen=True, slots=True)
class MemberState:
    """Where a user stands in one scheme (the row the service keeps per user and scheme)."""

    level: LevelDef | None = None
    since: date | None = None
    below_since: date | None = None
    downgrade_on: date | None = None
    notice_sent: bool = False
    assigned: bool = False
    assigned_until: date | None = None

    def in_keep_period(self) -> bool:
        return self.below_since is not None


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One step of a user's level history."""

    kind: ChangeKind
    on: date
    from_level: LevelDef | None
    to_level: LevelDef | None
    growth: int
    downgrade_on: date | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: MemberState
    changes: tuple[LevelChange, ...]


def evaluate(
    levels: Sequence[LevelDef],
    policy: LevelPolicy,
    state: MemberState,
    growth: int,
    on: date,
) -> Evaluation:
    """Where the user stands after day `on`, given their growth value over the window."""
    target = earned_level(levels, growth)
    current = state.level
    if _rank(target) > _rank(current):
        moved = MemberState(level=target, since=on)
        return Evaluation(moved, (LevelChange("upgrade", on, current, target, growth),))
    if state.assigned:
        if state.assigned_until is None or on <= state.assigned_until:
            return Evaluation(state, ())
        # The assignment ended: the user takes the level they earn, at once (the assignment
        # was their keep period).
        moved = MemberState(level=target, since=on)
        return Evaluation(moved, (LevelChange("unassigned", on, current, target, growth),))
    if _rank(target) == _rank(current) or policy.policy == "only_up":
        if state.in_keep_period():
            cleared = LevelChange("keep_cleared", on, current, current, growth)
            kept = replace(state, below_since=None, downgrade_on=None, notice_sent=False)
            return Evaluation(kept, (cleared,))
        return Evaluation(state, ())
    return _below(policy, state, target, on, growth)


def _below(
    policy: LevelPolicy, state: MemberState, target: LevelDef | None, on: date, growth: int
) -> Evaluation:
    current = state.level
    changes: list[LevelChange] = []
    if state.below_since is None or state.downgrade_on is None:
        first_due = on + timedelta(days=policy.keep_days)
        state = replace(state, below_since=on, downgrade_on=first_due, notice_sent=False)
        if policy.keep_days:
            changes.append(LevelChange("keep_started", on, current, current, growth, first_due))
    due: date = state.downgrade_on or on
    if policy.notice_days and not state.notice_sent and on >= due - timedelta(policy.notice_days):
        # The notice always comes `notice_days` before the downgrade: when it is late (the
        # evaluation did not run on the notice day), the downgrade moves later with it.
        due = max(due, on + timedelta(days=policy.notice_days))
        state = replace(state, downgrade_on=due, notice_sent=True)
        changes.append(LevelChange("notice", on, current, target, growth, due))
    if on >= due:
        changes.append(LevelChange("downgrade", on, current, target, growth))
        return Evaluation(MemberState(level=target, since=on), tuple(changes))
    return Evaluation(state, tuple(changes))


def assign(
    state: MemberState, level: LevelDef, on: date, *, until: date | None, growth: int
) -> Evaluation:
    """An operator puts a user on `level` (the only way onto an invitation-only level)."""
    if until is not None and until < on:
        raise InputError(f"an assignment cannot end ({until}) before it starts ({on})")
    moved = MemberState(level=level, since=on, assigned=True, assigned_until=until)
    return Evaluation(moved, (LevelChange("assigned", on, state.level, level, growth),))
