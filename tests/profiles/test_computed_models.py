"""Every computed model against the pandas reference of docs/models.md, on a generated world
with the hard cases (tests/profiles/tag_data.py), in two time zones and for several parameter
sets: RFM by quantiles and by thresholds, compared with the average or with cuts; lifecycle
with and without the age rule; value grades by shares and by thresholds on each measure;
intent with the default and an operator's mapping; activity levels."""

from __future__ import annotations

from typing import Any

import pytest

from tests.profiles import reference as ref
from tests.profiles.conftest import TagWorld
from tests.profiles.tag_data import TODAY
from userops.profiles.computed import FACT_MODELS, parse_params

RFM_PARAMS = [
    {},
    {"scoring": "threshold"},
    {"scoring": "threshold", "compare": "cut", "r_cut": 4, "f_cut": 2, "m_cut": 3},
    {"lookback_days": 30, "compare": "cut"},
    {"lookback_days": 400, "monetary_edges": [50, 99.99, 100, 1000]},
]
LIFECYCLE_PARAMS = [
    {},
    {"mature_age_days": 0, "mature_orders": 2},
    {"dormant_days": 1, "churn_days": 2},
]
GRADE_PARAMS = [
    {},
    {"method": "thresholds", "thresholds": [1000, 300, 99.99, 10]},
    {"measure": "orders", "shares": [10, 10, 10, 10, 60]},
    {"measure": "active_days", "lookback_days": 30, "shares": [1, 1, 1, 1, 96]},
    # over 62 days: the active days are counted in two 62-day bit sets (facts.WORD_DAYS)
    {
        "measure": "active_days",
        "lookback_days": 200,
        "method": "thresholds",
        "thresholds": [40, 20, 5, 1],
    },
    {"measure": "events", "event": "view_item", "method": "thresholds", "thresholds": [8, 4, 2, 1]},
]
INTENT_PARAMS = [{}, {"mapping": {"mystery": "strong", "social": "weak"}, "default": "medium"}]
ACTIVITY_PARAMS = [
    {},
    {"window_days": 7, "high_days": 3, "medium_days": 2},
    {"window_days": 130, "high_days": 8, "medium_days": 3},
]


def _ours(world: TagWorld, model: str, params: dict[str, Any], output: str) -> dict:
    with world.open() as wh:
        expr = FACT_MODELS[model].expression(wh, params, output, today=TODAY)
        table = expr.to_pyarrow()
    rows = table.to_pylist()
    assert len({r["user_id"] for r in rows}) == len(rows), "one value per user"
    return {r["user_id"]: (r["value"], r["number"]) for r in rows}


def _check(world: TagWorld, model: str, raw: dict[str, Any], output: str, expected: Any) -> None:
    got = _ours(world, model, raw, output)
    want = ref.as_dict(expected)
    assert got.keys() == want.keys(), sorted(got.keys() ^ want.keys())[:10]
    wrong = {u: (got[u], want[u]) for u in got if got[u] != want[u]}
    assert not wrong, list(wrong.items())[:10]


def _frames(world: TagWorld) -> tuple[Any, Any]:
    ev = ref.resolved(world.frames)
    return ev, ref.known_users(world.frames, ev)


@pytest.mark.parametrize("raw", RFM_PARAMS)
def test_rfm(world: TagWorld, raw: dict[str, Any]) -> None:
    params = parse_params("rfm", raw)
    ev, known = _frames(world)
    expected = ref.rfm(world.frames, ev, known, params)
    assert len(expected["group"]) >= 15, "the world has buyers"
    for output in ("group", "r", "f", "m"):
        _check(world, "rfm", raw, output, expected[output])


def test_rfm_data_has_ties_and_every_group(world: TagWorld) -> None:
    """The hard cases are there: tied frequencies and amounts, and most of the eight groups."""
    ev, known = _frames(world)
    expected = ref.rfm(world.frames, ev, known, parse_params("rfm", {}))
    assert expected["f"].value.value_counts().max() >= 5
    assert len(set(expected["group"].value)) >= 5


@pytest.mark.parametrize("raw", LIFECYCLE_PARAMS)
def test_lifecycle(world: TagWorld, raw: dict[str, Any]) -> None:
    params = parse_params("lifecycle", raw)
    ev, known = _frames(world)
    expected = ref.lifecycle(world.frames, ev, known, params)
    if not raw:
        assert set(expected.value) == {"introduction", "growth", "maturity", "dormancy", "churn"}
    _check(world, "lifecycle", raw, "value", expected)


@pytest.mark.parametrize("raw", GRADE_PARAMS)
def test_value_grade(world: TagWorld, raw: dict[str, Any]) -> None:
    params = parse_params("grade", raw)
    ev, known = _frames(world)
    expected = ref.grade(world.frames, ev, known, params)
    assert len(set(expected.value)) >= 3
    _check(world, "grade", raw, "value", expected)


@pytest.mark.parametrize("raw", INTENT_PARAMS)
def test_intent(world: TagWorld, raw: dict[str, Any]) -> None:
    params = parse_params("intent", raw)
    ev, known = _frames(world)
    expected = ref.intent(world.frames, ev, known, params)
    assert set(expected.value) == {"strong", "medium", "weak"}
    _check(world, "intent", raw, "value", expected)


@pytest.mark.parametrize("raw", ACTIVITY_PARAMS)
def test_activity(world: TagWorld, raw: dict[str, Any]) -> None:
    params = parse_params("activity", raw)
    ev, known = _frames(world)
    expected = ref.activity(world.frames, ev, known, params)
    assert set(expected.value) == {"high", "medium", "low", "silent"}
    _check(world, "activity", raw, "value", expected)


@pytest.mark.parametrize("output", ["join_path", "invites", "invitees", "self_propagation"])
def test_join_path_and_self_propagation(world: TagWorld, output: str) -> None:
    ev, known = _frames(world)
    expected = ref.spread(world.frames, ev, known)[output]
    _check(world, "spread", {}, output, expected)


def test_known_users_leave_out_anonymous_visitors_and_later_signups(world: TagWorld) -> None:
    _, known = _frames(world)
    assert not any(u.startswith("visitor") for u in known.index)
    assert "n3" not in known.index  # signed up after D
    assert {"n0", "n1", "n2"} <= set(known.index)  # never seen, still users
    merged = {a.replace("a", "u", 1) for a in world.frames.identities.anonymous_id}
    assert merged <= set(known.index)
