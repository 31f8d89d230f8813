"""Rule tags: boolean and enum definitions evaluated against the independent reference."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pytest

from tests.profiles.segment_data import RFM, TODAY, ProfileWorld, reference, zone_world
from userops.analytics.base import UnboundSource
from userops.errors import InputError
from userops.profiles.ruletags import evaluate_rule_tag


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ProfileWorld:
    return zone_world(request, tmp_path_factory, "America/Los_Angeles")


def rows(pw: ProfileWorld, definition: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    table = evaluate_rule_tag(pw.wh, definition, today=TODAY)
    assert table.schema() == ibis.schema(
        {"user_id": dt.string, "value": dt.string, "number": dt.float64}
    )
    out = {}
    for row in table.to_pyarrow().to_pylist():
        assert row["user_id"] not in out
        out[row["user_id"]] = (row["value"], row["number"])
    return out


def test_boolean_rule_tag(pw: ProfileWorld) -> None:
    rule = {
        "all": [
            {"event": "purchase", "within_days": 30},
            {"trait": "city", "op": "in", "value": ["上海", "北京"]},
        ]
    }
    got = rows(pw, {"when": rule})
    expected = reference(pw, rule)
    assert expected and got == {uid: ("true", None) for uid in expected}


def _first_case(pw: ProfileWorld, definition: dict[str, Any]) -> dict[str, str]:
    """The enum's value per user, computed case by case from the reference."""
    out: dict[str, str] = {}
    for case in definition["cases"]:
        for uid in reference(pw, case["when"]):
            out.setdefault(uid, case["then"])
    if "else" in definition:
        for uid in pw.universe - set(out):
            out[uid] = definition["else"]
    return out


ENUM = {
    "cases": [
        {
            "when": {
                "event": "purchase",
                "measure": "sum",
                "property": "revenue",
                "op": ">=",
                "value": 500,
            },
            "then": "重要价值",
        },
        {"when": {"event": "purchase", "within_days": 30}, "then": "活跃"},
        {"when": {"tag": "rfm_group", "op": "in", "value": RFM[:2]}, "then": 'it\'s "quoted"'},
    ]
}


@pytest.mark.parametrize("otherwise", [None, "一般"])
def test_enum_rule_tag_first_case_wins(pw: ProfileWorld, otherwise: str | None) -> None:
    definition = dict(ENUM) if otherwise is None else {**ENUM, "else": otherwise}
    got = rows(pw, definition)
    expected = _first_case(pw, definition)
    assert {u: v for u, (v, _) in got.items()} == expected
    assert all(number is None for _, number in got.values())
    values = {v for v, _ in got.values()}
    assert values >= {"重要价值", "活跃"}
    if otherwise is None:
        assert set(got) < pw.universe  # users matching no case get no row
    else:
        assert set(got) == pw.universe


def test_a_bad_definition_names_its_part(pw: ProfileWorld) -> None:
    with pytest.raises(InputError, match=r"^definition\.cases\[1\]\.when\.op: unknown operator"):
        evaluate_rule_tag(
            pw.wh,
            {
                "cases": [
                    {"when": {"segment": "a"}, "then": "A"},
                    {"when": {"trait": "city", "op": "like", "value": "x"}, "then": "B"},
                ]
            },
            today=TODAY,
        )


def test_compiles_for_clickhouse() -> None:
    expr = evaluate_rule_tag(UnboundSource("clickhouse"), {**ENUM, "else": "x"}, today=TODAY)
    sql = str(ibis.to_sql(expr, dialect="clickhouse"))
    assert "CASE" in sql.upper() and "'it''s \"quoted\"'" in sql
