"""Level policies on scripted timelines: only up, up and down with a keep period and notice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from userops.domain.membership import levels as lv
from userops.errors import InputError

SILVER = lv.LevelDef(1, "silver", "Silver", 1, 0)
GOLD = lv.LevelDef(2, "gold", "Gold", 2, 1000)
PLATINUM = lv.LevelDef(3, "platinum", "Platinum", 3, 5000)
DIAMOND = lv.LevelDef(4, "diamond", "Diamond", 4, 20000)
BLACK = lv.LevelDef(5, "black", "Black card", 5, 0, invite_only=True)
LEVELS = (SILVER, GOLD, PLATINUM, DIAMOND, BLACK)

ONLY_UP = lv.LevelPolicy("only_up")
UP_DOWN = lv.LevelPolicy("up_down", window_months=12, keep_days=30, notice_days=7)
D0 = date(2026, 3, 1)


def run(
    policy: lv.LevelPolicy, timeline: dict[int, int], days: int, state: lv.MemberState | None = None
) -> tuple[lv.MemberState, list[tuple[int, str, str]]]:
    """Evaluate every day from D0 for `days` days; `timeline` gives the growth value from a day
    on. Returns the final state and (day, kind, level code after) of every change."""
    state = state or lv.MemberState()
    growth = 0
    log: list[tuple[int, str, str]] = []
    for day in range(days):
        growth = timeline.get(day, growth)
        result = lv.evaluate(LEVELS, policy, state, growth, D0 + timedelta(days=day))
        state = result.state
        for change in result.changes:
            code = change.to_level.code if change.to_level else "-"
            log.append((day, change.kind, code))
    return state, log


@pytest.mark.parametrize(
    ("growth", "code"),
    [
        (0, "silver"),
        (999, "silver"),
        (1000, "gold"),
        (4999, "gold"),
        (5000, "platinum"),
        (10**9, "diamond"),
    ],
)
def test_earned_level_is_the_highest_threshold_reached(growth: int, code: str) -> None:
    found = lv.earned_level(LEVELS, growth)
    assert found is not None and found.code == code


def test_no_level_below_the_lowest_threshold() -> None:
    assert lv.earned_level((GOLD, PLATINUM), 10) is None


def test_only_up_never_goes_down() -> None:
    state, log = run(ONLY_UP, {0: 1200, 10: 6000, 20: 0}, 400)
    assert log == [(0, "upgrade", "gold"), (10, "upgrade", "platinum")]
    assert state.level == PLATINUM


def test_up_down_keep_period_and_notice_on_the_boundary_days() -> None:
    # Platinum from day 0; growth falls to gold's range on day 10 (kept until day 40).
    state, log = run(UP_DOWN, {0: 6000, 10: 2000}, 60)
    assert log == [
        (0, "upgrade", "platinum"),
        (10, "keep_started", "platinum"),
        (33, "notice", "gold"),  # 7 days before the downgrade day
        (40, "downgrade", "gold"),  # keep 30 days: day 10 + 30
    ]
    assert state.level == GOLD and state.since == D0 + timedelta(days=40)


def test_up_down_the_day_before_the_downgrade_keeps_the_level() -> None:
    state, _ = run(UP_DOWN, {0: 6000, 10: 2000}, 40)  # days 0..39
    assert state.level == PLATINUM and state.downgrade_on == D0 + timedelta(days=40)
    assert state.notice_sent


def test_catching_up_during_the_keep_period_keeps_the_level() -> None:
    state, log = run(UP_DOWN, {0: 6000, 10: 2000, 39: 5000}, 80)
    assert log[-1] == (39, "keep_cleared", "platinum")
    assert state.level == PLATINUM and not state.in_keep_period()


def test_a_downgrade_lands_on_the_level_earned_on_the_downgrade_day() -> None:
    _, log = run(UP_DOWN, {0: 25000, 5: 4000, 20: 100}, 50)
    assert (35, "downgrade", "silver") in log


def test_keep_zero_and_no_notice_downgrades_at_once() -> None:
    policy = lv.LevelPolicy("up_down", window_months=12)
    _, log = run(policy, {0: 1500, 3: 10}, 5)
    assert log == [(0, "upgrade", "gold"), (3, "downgrade", "silver")]


def test_a_late_notice_pushes_the_downgrade_back() -> None:
    # The job does not run between day 1 and day 45: the notice comes on day 45, so the
    # downgrade waits until day 52.
    state = lv.evaluate(LEVELS, UP_DOWN, lv.MemberState(), 6000, D0).state
    state = lv.evaluate(LEVELS, UP_DOWN, state, 2000, D0 + timedelta(days=1)).state
    late = lv.evaluate(LEVELS, UP_DOWN, state, 2000, D0 + timedelta(days=45))
    assert [c.kind for c in late.changes] == ["notice"]
    assert late.state.downgrade_on == D0 + timedelta(days=52)
    done = lv.evaluate(LEVELS, UP_DOWN, late.state, 2000, D0 + timedelta(days=52))
    assert [c.kind for c in done.changes] == ["downgrade"]


def test_an_upgrade_during_the_keep_period_ends_it() -> None:
    state, log = run(UP_DOWN, {0: 6000, 10: 2000, 20: 30000}, 60)
    assert log[-1] == (20, "upgrade", "diamond")
    assert state.level == DIAMOND and not state.in_keep_period()


def test_invitation_only_level_is_held_while_assigned_then_earned_level_applies() -> None:
    start = lv.MemberState()
    assigned = lv.assign(start, BLACK, D0, until=D0 + timedelta(days=30), growth=0).state
    held = lv.evaluate(LEVELS, UP_DOWN, assigned, 0, D0 + timedelta(days=30))
    assert held.state.level == BLACK and held.changes == ()
    ended = lv.evaluate(LEVELS, UP_DOWN, held.state, 1500, D0 + timedelta(days=31))
    assert [(c.kind, c.to_level) for c in ended.changes] == [("unassigned", GOLD)]
    never_earned = lv.evaluate(LEVELS, ONLY_UP, lv.MemberState(), 10**9, D0)
    assert never_earned.state.level == DIAMOND


def test_an_indefinite_assignment_is_only_ever_left_upwards() -> None:
    assigned = lv.assign(lv.MemberState(), GOLD, D0, until=None, growth=0).state
    assert lv.evaluate(LEVELS, UP_DOWN, assigned, 0, D0 + timedelta(days=900)).state == assigned
    up = lv.evaluate(LEVELS, UP_DOWN, assigned, 6000, D0 + timedelta(days=901))
    assert up.state.level == PLATINUM and not up.state.assigned


@pytest.mark.parametrize(
    ("on", "months", "first"),
    [
        (date(2026, 3, 15), 12, date(2025, 3, 16)),
        (date(2026, 3, 31), 1, date(2026, 3, 1)),
        (date(2024, 2, 29), 12, date(2023, 3, 1)),
        (date(2026, 3, 15), None, None),
    ],
)
def test_evaluation_window(on: date, months: int | None, first: date | None) -> None:
    assert lv.LevelPolicy("up_down", window_months=months).window_first_day(on) == first


@pytest.mark.parametrize(
    "levels",
    [
        (SILVER, lv.LevelDef(9, "silver", "dup", 7, 10)),
        (GOLD, lv.LevelDef(9, "x", "x", 2, 5000)),
        (GOLD, lv.LevelDef(9, "x", "x", 3, 1000)),
        (lv.LevelDef(1, "a", "a", 1, -1),),
    ],
)
def test_bad_level_definitions_are_refused(levels: tuple[lv.LevelDef, ...]) -> None:
    with pytest.raises(InputError):
        lv.check_levels(levels)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(InputError):
        lv.LevelPolicy("sometimes")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        lv.LevelPolicy("up_down", window_months=0)


def test_thresholds_have_a_documented_maximum() -> None:
    lv.check_levels([SILVER, lv.LevelDef(2, "top", "Top", 2, 10**12)])
    huge = lv.LevelDef(2, "top", "Top", 2, 2**70)  # beyond a 64-bit column: a 500 before
    with pytest.raises(InputError, match="at most 1000000000000: level 'top' has 1180591620"):
        lv.check_levels([SILVER, huge])
    with pytest.raises(InputError, match="level thresholds must be 0 or more"):
        lv.check_levels([lv.LevelDef(1, "neg", "Neg", 1, -1)])
