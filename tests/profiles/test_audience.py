"""The rule language: parsing tables (good rules, bad rules with the exact path and reason),
hostile input, and a Hypothesis round trip JSON -> rule -> JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from userops.domain.audience import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_LIST,
    AllOf,
    AnyOf,
    BooleanRuleTag,
    EnumCase,
    EnumRuleTag,
    EventCondition,
    Not,
    PropertyCondition,
    SegmentCondition,
    TagCondition,
    TraitCondition,
    age_on,
    located_conditions,
    parse_rule,
    parse_rule_tag,
    referenced_segments,
    referenced_tags,
    rule_tag_to_json,
    rule_to_json,
    years_before,
)
from userops.errors import InputError

OPS_TEXT = "=, !=, in, not_in, between, <, <=, >, >=, is_set, not_set"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"trait": "city", "op": "=", "value": "上海"}, TraitCondition("city", "=", "上海")),
        (
            {"trait": "channel", "op": "not_in", "value": ["unknown", "social"]},
            TraitCondition("channel", "not_in", ("unknown", "social")),
        ),
        ({"trait": "email", "op": "is_set"}, TraitCondition("email", "is_set")),
        (
            {"trait": "birthday", "op": "between", "value": ["1990-01-01", None]},
            TraitCondition("birthday", "between", ("1990-01-01", None)),
        ),
        ({"trait": "created_at", "op": "<=", "value": 7}, TraitCondition("created_at", "<=", 7)),
        (
            {"trait": "created_at", "op": ">=", "value": "2026-10-01"},
            TraitCondition("created_at", ">=", "2026-10-01"),
        ),
        (
            {"trait": "age", "op": "between", "value": [25, 30]},
            TraitCondition("age", "between", (25, 30)),
        ),
        (
            {"trait": "traits.vip", "op": "=", "value": True},
            TraitCondition("traits.vip", "=", True),
        ),
        (
            {"trait": "traits.等级", "op": ">", "value": 2.5},
            TraitCondition("traits.等级", ">", 2.5),
        ),
        (
            {"tag": "rfm_group", "op": "in", "value": ["重要价值", "重要发展"]},
            TagCondition("rfm_group", "in", ("重要价值", "重要发展")),
        ),
        (
            {"tag": "score", "op": "between", "value": [None, 10]},
            TagCondition("score", "between", (None, 10)),
        ),
        (
            {"tag": "first-buy", "op": ">=", "value": "2026-01-01"},
            TagCondition("first-buy", ">=", "2026-01-01"),
        ),
        ({"segment": "vip_2026"}, SegmentCondition("vip_2026")),
        ({"event": "purchase"}, EventCondition("purchase")),
        (
            {"event": "purchase", "op": "<=", "value": 0, "within_days": 30},
            EventCondition("purchase", op="<=", value=0, within_days=30),
        ),
        (
            {
                "event": "purchase",
                "where": [{"property": "category", "op": "=", "value": "美妆"}],
                "measure": "sum",
                "property": "revenue",
                "op": ">=",
                "value": 100.5,
            },
            EventCondition(
                "purchase",
                (PropertyCondition("category", "=", "美妆"),),
                "sum",
                "revenue",
                ">=",
                100.5,
            ),
        ),
        (
            {"event": "login", "measure": "last_time", "op": ">", "value": 30},
            EventCondition("login", measure="last_time", op=">", value=30),
        ),
        (
            {
                "event": "login",
                "measure": "first_time",
                "op": "between",
                "value": ["2026-01-01", "2026-01-31"],
            },
            EventCondition(
                "login", measure="first_time", op="between", value=("2026-01-01", "2026-01-31")
            ),
        ),
        (
            {"event": "purchase", "measure": "max", "property": "revenue", "op": "not_set"},
            EventCondition("purchase", measure="max", prop="revenue", op="not_set"),
        ),
        (
            {"all": [{"segment": "a"}, {"not": {"any": [{"segment": "b"}, {"segment": "c"}]}}]},
            AllOf(
                (
                    SegmentCondition("a"),
                    Not(AnyOf((SegmentCondition("b"), SegmentCondition("c")))),
                )
            ),
        ),
    ],
)
def test_good_rules(doc: dict[str, Any], expected: Any) -> None:
    rule = parse_rule(doc)
    assert rule == expected
    assert rule_to_json(rule) == doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {
                "all": [
                    {"segment": "a"},
                    {"segment": "b"},
                    {"trait": "city", "op": "==", "value": "x"},
                ]
            },
            f"rule.all[2].op: unknown operator '=='; expected one of {OPS_TEXT}",
        ),
        ([], "rule: a condition is a JSON object, not a list"),
        ({}, "rule: a condition needs one of all, any, not, trait, tag, event, segment (has none)"),
        (
            {"foo": 1},
            "rule: a condition needs one of all, any, not, trait, tag, event, segment (has 'foo')",
        ),
        ({"trait": "city", "tag": "x"}, "rule: has both 'trait' and 'tag'; nest them in all"),
        ({"all": []}, "rule.all: give a non-empty list of conditions"),
        ({"any": {"segment": "a"}}, "rule.any: give a non-empty list of conditions"),
        ({"not": [{"segment": "a"}]}, "rule.not: a condition is a JSON object, not a list"),
        (
            {"trait": "city", "op": "=", "value": "x", "extra": 1},
            "rule: unknown key 'extra'; expected op, trait, value",
        ),
        (
            {"trait": "cty", "op": "=", "value": "x"},
            "rule.trait: unknown trait 'cty'; expected one of user_id, channel",
        ),
        (
            {"trait": "trait.vip", "op": "is_set"},
            "rule.trait: unknown trait 'trait.vip' (did you mean traits.vip?)",
        ),
        (
            {"trait": "traits.a-b", "op": "is_set"},
            "rule.trait: 'traits.a-b': a custom trait is traits.NAME",
        ),
        ({"trait": 3, "op": "is_set"}, "rule.trait: a trait name is a string, not a number"),
        ({"trait": "city", "value": "x"}, f"rule: missing 'op'; expected one of {OPS_TEXT}"),
        ({"trait": "city", "op": "="}, "rule: missing 'value' for '='"),
        ({"trait": "city", "op": "is_set", "value": "x"}, "rule.value: 'is_set' takes no value"),
        (
            {"trait": "city", "op": ">", "value": "x"},
            "rule.op: city is text; compare it with =, !=, in",
        ),
        ({"trait": "city", "op": "=", "value": 3}, "rule.value: expected a string, got 3"),
        ({"trait": "city", "op": "=", "value": ""}, "rule.value: the string is empty"),
        (
            {"trait": "city", "op": "=", "value": ["a"]},
            "rule.value: '=' takes one value; use 'in' for a list",
        ),
        (
            {"trait": "city", "op": "in", "value": []},
            "rule.value: 'in' needs a non-empty list, got a list",
        ),
        (
            {"trait": "city", "op": "in", "value": "a"},
            "rule.value: 'in' needs a non-empty list, got a string",
        ),
        (
            {"trait": "city", "op": "in", "value": ["a", 1]},
            "rule.value[1]: expected a string, got 1",
        ),
        ({"trait": "city", "op": "=", "value": "a\nb"}, "rule.value: contains a control character"),
        (
            {"trait": "birthday", "op": "=", "value": "2026-02-30"},
            "rule.value: expected an ISO date (YYYY-MM-DD), got '2026-02-30'",
        ),
        (
            {"trait": "birthday", "op": "between", "value": ["2026-01-01"]},
            "rule.value: 'between' needs [low, high] (either may be null)",
        ),
        (
            {"trait": "birthday", "op": "between", "value": [None, None]},
            "rule.value: 'between' needs at least one of low and high",
        ),
        (
            {"trait": "birthday", "op": "between", "value": ["2026-02-01", "2026-01-01"]},
            "rule.value: low '2026-02-01' is above high '2026-01-01'",
        ),
        (
            {"trait": "created_at", "op": "between", "value": [3, "2026-01-01"]},
            "rule.value: mixes date and days values",
        ),
        (
            {"trait": "created_at", "op": "<", "value": -1},
            "rule.value: expected an ISO date (YYYY-MM-DD) or a whole number of days ago",
        ),
        (
            {"trait": "age", "op": ">=", "value": 30.5},
            "rule.value: expected a whole number of years (0 to 150), got 30.5",
        ),
        (
            {"trait": "age", "op": ">=", "value": True},
            "rule.value: expected a whole number of years (0 to 150), got a boolean",
        ),
        ({"trait": "traits.level", "op": ">", "value": "3"}, "rule.value: expected a number"),
        (
            {"tag": "rfm", "op": "=", "value": None},
            "rule.value: expected a string, number or boolean, got null",
        ),
        ({"tag": "rfm", "op": "in", "value": [1, "a"]}, "rule.value: mixes number and text values"),
        ({"tag": "a b", "op": "is_set"}, "rule.tag: 'a b' is not a tag code"),
        ({"segment": ""}, "rule.segment: '' is not a segment code"),
        ({"segment": "x", "op": "="}, "rule: unknown key 'op'; expected segment"),
        ({"event": ""}, "rule.event: the string is empty"),
        (
            {"event": "buy", "measure": "median"},
            "rule.measure: unknown measure 'median'; expected one of count, sum",
        ),
        (
            {"event": "buy", "measure": "sum", "op": ">", "value": 1},
            "rule: measure 'sum' needs 'property' (e.g. revenue)",
        ),
        (
            {"event": "buy", "property": "revenue"},
            "rule.property: only sum, avg, max and min take a property",
        ),
        (
            {"event": "buy", "measure": "avg", "property": "revenue"},
            "rule: measure 'avg' needs 'op' and 'value'",
        ),
        ({"event": "buy", "value": 3}, "rule: 'value' needs an 'op'"),
        ({"event": "buy", "op": "is_set"}, "rule.op: a count is always set (0 without events)"),
        (
            {"event": "buy", "op": ">=", "value": 1.5},
            "rule.value: expected a whole number of 0 or more, got 1.5",
        ),
        (
            {"event": "buy", "within_days": 0},
            "rule.within_days: a whole number of days from 1 to 3660",
        ),
        (
            {"event": "buy", "within_days": "30"},
            "rule.within_days: a whole number of days from 1 to 3660",
        ),
        (
            {"event": "buy", "where": {"property": "a"}},
            "rule.where: a list of property conditions, not an object",
        ),
        (
            {"event": "buy", "where": [{"property": "price", "op": ">", "value": "x"}]},
            "rule.where[0].value: expected a number",
        ),
        (
            {"event": "buy", "where": [{"property": "a.b", "op": "is_set"}]},
            "rule.where[0].property: 'a.b' is not a property name",
        ),
        ({"event": "buy", "where": [{"op": "is_set"}]}, "rule.where[0]: missing 'property'"),
        (
            {
                "any": [
                    {
                        "all": [
                            {"segment": "a"},
                            {
                                "event": "x",
                                "measure": "max",
                                "property": "p",
                                "op": "~",
                                "value": 1,
                            },
                        ]
                    }
                ]
            },
            "rule.any[0].all[1].op: unknown operator '~'",
        ),
    ],
)
def test_bad_rules(doc: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rule(doc)
    assert str(caught.value).startswith(message), str(caught.value)


HOSTILE = "'; DROP TABLE users; --"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"trait": HOSTILE, "op": "=", "value": "x"},
            'rule.trait: unknown trait "\'; DROP TABLE users; --"',
        ),
        (
            {"trait": "traits." + HOSTILE, "op": "is_set"},
            'rule.trait: "traits.\'; DROP TABLE users; --": a custom trait',
        ),
        (
            {"tag": HOSTILE, "op": "is_set"},
            'rule.tag: "\'; DROP TABLE users; --" is not a tag code',
        ),
        ({"segment": HOSTILE}, 'rule.segment: "\'; DROP TABLE users; --" is not a segment code'),
        (
            {"event": "x", "measure": "sum", "property": HOSTILE, "op": ">", "value": 1},
            'rule.property: "\'; DROP TABLE users; --" is not a property name',
        ),
        (
            {"event": "x", "where": [{"property": "a')--", "op": "is_set"}]},
            'rule.where[0].property: "a\')--" is not a property name',
        ),
        (
            {"trait": "city", "op": HOSTILE, "value": "x"},
            'rule.op: unknown operator "\'; DROP TABLE users; --"',
        ),
        ({HOSTILE: 1}, "rule: a condition needs one of all, any, not"),
        (
            {"trait": "traits.level", "op": ">", "value": float("nan")},
            "rule.value: numbers must be finite",
        ),
        (
            {"trait": "traits.level", "op": ">", "value": float("inf")},
            "rule.value: numbers must be finite",
        ),
        (
            {"trait": "traits.level", "op": ">", "value": 1e300},
            "rule.value: a number beyond ±1e+15",
        ),
        (
            {"trait": "traits.level", "op": ">", "value": 10**5000},
            "rule.value: a number beyond ±1e+15",
        ),
        ({"tag": "score", "op": "=", "value": -(10**16)}, "rule.value: a number beyond ±1e+15"),
        ({"event": "x", "op": ">=", "value": 10**20}, "rule.value: a number beyond ±1e+15"),
        (
            {"trait": "city", "op": "=", "value": "x" * 201},
            "rule.value: 201 characters; at most 200",
        ),
        ({"event": "x" * 1000}, "rule.event: 1000 characters; at most 200"),
        (
            {"trait": "city", "op": "=", "value": "a\x00b"},
            "rule.value: contains a control character",
        ),
        (
            {"trait": "city", "op": "in", "value": ["x"] * (MAX_LIST + 1)},
            f"rule.value: {MAX_LIST + 1} values; at most {MAX_LIST}",
        ),
        (
            {"any": [{"segment": "a"}] * (MAX_CONDITIONS + 1)},
            f"rule.any: {MAX_CONDITIONS + 1} conditions; at most {MAX_CONDITIONS}",
        ),
        (
            {"all": [{"any": [{"segment": "a"}] * 60}, {"any": [{"segment": "a"}] * 60}]},
            f"rule.all[1].any[40]: more than {MAX_CONDITIONS} conditions in one rule",
        ),
        ({"k" * 100000: 1}, "rule: a condition needs one of all, any, not"),
    ],
)
def test_hostile_rules_are_refused_by_name(doc: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rule(doc)
    text = str(caught.value)
    assert text.startswith(message), text
    assert len(text) < 600  # a huge input is never echoed whole


def test_deep_nesting_is_refused_without_recursing() -> None:
    doc: dict[str, Any] = {"segment": "a"}
    for _ in range(100_000):
        doc = {"not": doc}
    with pytest.raises(InputError) as caught:
        parse_rule(doc)
    assert str(caught.value) == (
        "rule" + ".not" * MAX_DEPTH + f": rules nest at most {MAX_DEPTH} levels deep"
    )
    shallow: dict[str, Any] = {"segment": "a"}
    for _ in range(MAX_DEPTH - 1):
        shallow = {"not": shallow}
    assert rule_to_json(parse_rule(shallow)) == shallow


def test_rule_tags_parse_and_round_trip() -> None:
    boolean = {"when": {"event": "purchase", "within_days": 7}}
    assert parse_rule_tag(boolean) == BooleanRuleTag(EventCondition("purchase", within_days=7))
    enum = {
        "cases": [
            {"when": {"tag": "score", "op": ">=", "value": 80}, "then": "S"},
            {"when": {"tag": "score", "op": ">=", "value": 50}, "then": "A"},
        ],
        "else": "B",
    }
    parsed = parse_rule_tag(enum)
    assert parsed == EnumRuleTag(
        (
            EnumCase(TagCondition("score", ">=", 80), "S"),
            EnumCase(TagCondition("score", ">=", 50), "A"),
        ),
        "B",
    )
    assert rule_tag_to_json(parsed) == enum
    assert rule_tag_to_json(parse_rule_tag({"cases": enum["cases"]})) == {"cases": enum["cases"]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, 'definition: a rule tag is {"when": RULE} (boolean) or'),
        ({"when": {"segment": "a"}, "then": "x"}, "definition: unknown key 'then'; expected when"),
        ({"cases": []}, "definition.cases: give a non-empty list of cases"),
        ({"cases": [{"when": {"segment": "a"}}]}, "definition.cases[0]: missing 'then'"),
        (
            {"cases": [{"when": {"segment": "a"}, "then": ""}]},
            "definition.cases[0].then: the string is empty",
        ),
        (
            {"cases": [{"when": {"segment": "a"}, "then": "A"}], "else": 3},
            "definition.else: expected a string, got a number",
        ),
        (
            {"cases": [{"when": {"trait": "x"}, "then": "A"}]},
            "definition.cases[0].when.trait: unknown trait 'x'",
        ),
    ],
)
def test_bad_rule_tags(doc: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rule_tag(doc)
    assert str(caught.value).startswith(message), str(caught.value)


def test_references_and_paths() -> None:
    rule = parse_rule(
        {
            "all": [
                {"tag": "rfm", "op": "is_set"},
                {"not": {"any": [{"segment": "a"}, {"tag": "vip", "op": "=", "value": True}]}},
            ]
        }
    )
    assert referenced_tags(rule) == {"rfm", "vip"}
    assert referenced_segments(rule) == {"a"}
    assert [p for p, _ in located_conditions(rule)] == [
        "rule.all[0]",
        "rule.all[1].not.any[0]",
        "rule.all[1].not.any[1]",
    ]


@pytest.mark.parametrize(
    ("birthday", "today", "age"),
    [
        ("2000-11-20", "2026-11-20", 26),
        ("2000-11-21", "2026-11-20", 25),
        ("1996-02-29", "2026-02-28", 29),
        ("1996-02-29", "2026-03-01", 30),
        ("1996-02-29", "2028-02-29", 32),
    ],
)
def test_age(birthday: str, today: str, age: int) -> None:
    from datetime import date

    born, day = date.fromisoformat(birthday), date.fromisoformat(today)
    assert age_on(born, day) == age
    assert (born <= years_before(day, age)) and not (born <= years_before(day, age + 1))


# --- Hypothesis: every generated rule round-trips exactly -------------------------------------

texts = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x9FFF, exclude_characters="\x7f"),
    min_size=1,
    max_size=12,
)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
codes = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
numbers = st.one_of(
    st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
)
iso_dates = st.dates().map(lambda d: d.isoformat())
days = st.integers(0, 3000)


def _comparisons(
    scalar: st.SearchStrategy[Any], ordered: bool
) -> st.SearchStrategy[dict[str, Any]]:
    options = [
        st.builds(lambda v: {"op": "=", "value": v}, scalar),
        st.builds(lambda v: {"op": "!=", "value": v}, scalar),
        st.builds(lambda v: {"op": "in", "value": v}, st.lists(scalar, min_size=1, max_size=3)),
        st.builds(lambda v: {"op": "not_in", "value": v}, st.lists(scalar, min_size=1, max_size=3)),
        st.just({"op": "is_set"}),
        st.just({"op": "not_set"}),
    ]
    if ordered:
        options.append(
            st.builds(
                lambda op, v: {"op": op, "value": v},
                st.sampled_from(["<", "<=", ">", ">="]),
                scalar,
            )
        )
        options.append(
            st.tuples(scalar, scalar).map(
                lambda p: {"op": "between", "value": sorted(p)}  # type: ignore[type-var]
            )
        )
    return st.one_of(*options)


traits = st.one_of(
    st.builds(
        lambda f, c: {"trait": f, **c},
        st.sampled_from(["city", "channel", "gender"]),
        _comparisons(texts, False),
    ),
    st.builds(lambda c: {"trait": "birthday", **c}, _comparisons(iso_dates, True)),
    st.builds(lambda c: {"trait": "created_at", **c}, _comparisons(days, True)),
    st.builds(lambda c: {"trait": "age", **c}, _comparisons(st.integers(0, 150), True)),
    st.builds(lambda n, c: {"trait": "traits." + n, **c}, names, _comparisons(numbers, True)),
    st.builds(
        lambda n, c: {"trait": "traits." + n, **c},
        names,
        st.one_of(_comparisons(texts, False), _comparisons(st.booleans(), False)),
    ),
)
tags = st.one_of(
    st.builds(lambda t, c: {"tag": t, **c}, codes, _comparisons(numbers, True)),
    st.builds(lambda t, c: {"tag": t, **c}, codes, _comparisons(texts, True)),
)


def _event(
    name: str,
    where: list[dict[str, Any]] | None,
    measure: str | None,
    cmp: dict[str, Any] | None,
    within: int | None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"event": name}
    if where is not None:
        doc["where"] = where
    if measure is not None:
        doc["measure"] = measure
        if measure in ("sum", "avg", "max", "min"):
            doc["property"] = "revenue"
    if cmp is not None and measure in (None, "count", "sum"):
        cmp = cmp if cmp["op"] not in ("is_set", "not_set") else {"op": ">=", "value": 1}
    if cmp is None and measure not in (None, "count"):
        cmp = {"op": "is_set"} if measure != "sum" else {"op": ">", "value": 0}
    if cmp is not None:
        doc.update(cmp)
    if within is not None:
        doc["within_days"] = within
    return doc


events = st.one_of(
    st.builds(
        _event,
        texts,
        st.none()
        | st.lists(
            st.builds(lambda n, c: {"property": n, **c}, names, _comparisons(texts, False)),
            max_size=2,
        ),
        st.sampled_from([None, "count"]),
        st.none() | _comparisons(st.integers(0, 20), True),
        st.none() | st.integers(1, 365),
    ),
    st.builds(
        _event,
        texts,
        st.none(),
        st.sampled_from(["sum", "avg", "max", "min"]),
        _comparisons(numbers, True),
        st.none() | st.integers(1, 365),
    ),
    st.builds(
        _event,
        texts,
        st.none(),
        st.sampled_from(["first_time", "last_time"]),
        _comparisons(days, True),
        st.none(),
    ),
    st.builds(
        _event,
        texts,
        st.none(),
        st.sampled_from(["first_time", "last_time"]),
        _comparisons(iso_dates, True),
        st.none(),
    ),
)
leaves = st.one_of(traits, tags, events, st.builds(lambda c: {"segment": c}, codes))
rules = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(rules)
def test_json_round_trip(doc: dict[str, Any]) -> None:
    try:
        rule = parse_rule(doc)
    except InputError as exc:  # only the depth limit may refuse a generated rule
        assert "nest at most" in str(exc), (str(exc), doc)
        return
    assert rule_to_json(rule) == doc
    assert parse_rule(json.loads(json.dumps(rule_to_json(rule), ensure_ascii=False))) == rule
