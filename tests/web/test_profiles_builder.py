"""The segment builder's form model (web/profiles/builder.py): a rule drawn as rows and read
back gives the same rule; the posted fields rebuild the tree; actions add and remove rows and
groups; values are typed by what they compare; an error names its row."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from userops.domain.audience import parse_rule, rule_to_json
from userops.errors import InputError
from userops.web.profiles import builder
from userops.web.profiles.builder import Context, Node, TagChoice

CTX = Context(
    tags=(
        TagChoice("rfm_group", "RFM", "enum", (("important_value", "重要价值"),)),
        TagChoice("rfm_r", "R", "number"),
    ),
    events=("purchase", "app_open"),
    segments=(("vip", "VIP"),),
)

RULES: list[dict[str, Any]] = [
    {
        "all": [
            {"trait": "city", "op": "in", "value": ["上海", "北京"]},
            {"trait": "age", "op": "between", "value": [25, 30]},
            {"event": "purchase", "within_days": 30, "op": ">=", "value": 2},
            {"not": {"segment": "vip"}},
        ]
    },
    {
        "any": [
            {"tag": "rfm_group", "op": "in", "value": ["important_value", "general_value"]},
            {
                "not": {
                    "all": [
                        {"trait": "channel", "op": "=", "value": "referral"},
                        {"trait": "created_at", "op": "<=", "value": 7},
                    ]
                }
            },
        ]
    },
    {
        "all": [
            {
                "event": "purchase",
                "measure": "sum",
                "property": "revenue",
                "op": ">=",
                "value": 500,
                "within_days": 30,
            },
            {"event": "app_open", "measure": "last_time", "op": ">", "value": 30},
            {"event": "app_open", "measure": "first_time", "op": ">=", "value": "2026-10-01"},
        ]
    },
    {
        "all": [
            {"event": "purchase", "where": [{"property": "category", "op": "=", "value": "美妆"}]}
        ]
    },
    {
        "all": [
            {"trait": "traits.level", "op": ">=", "value": 2},
            {"trait": "traits.vip", "op": "=", "value": True},
        ]
    },
    {"all": [{"trait": "city", "op": "in", "value": ["a,b", "c"]}]},
    {"all": [{"tag": "rfm_r", "op": ">=", "value": 4}, {"tag": "rfm_group", "op": "not_set"}]},
    {"all": [{"trait": "birthday", "op": "between", "value": [None, "2000-01-01"]}]},
    {"all": [{"trait": "email", "op": "is_set"}, {"event": "purchase"}]},
    {
        "any": [
            {"event": "purchase", "measure": "avg", "property": "revenue", "op": ">", "value": 99.5}
        ]
    },
    {
        "all": [
            {"any": [{"segment": "vip"}, {"all": [{"trait": "gender", "op": "!=", "value": "f"}]}]}
        ]
    },
]


def fields(tree: Node) -> FormData:
    """The fields the builder's template posts for `tree` (text boxes hold the values)."""
    out: list[tuple[str, str]] = []
    for node in tree.walk():
        p = node.path
        out += [("node", p), (f"kind.{p}", node.kind)]
        if node.is_group:
            continue
        out += [(f"was.{p}", node.kind), (f"field.{p}", node.field), (f"op.{p}", node.op)]
        out += [(f"value.{p}", node.value), (f"high.{p}", node.high)]
        out += [(f"measure.{p}", node.measure), (f"property.{p}", node.prop)]
        out += [(f"within.{p}", node.within), (f"json.{p}", node.raw)]
    return FormData(out)


@pytest.mark.parametrize("rule", RULES)
def test_a_rule_drawn_and_read_back_is_the_same_rule(rule: dict[str, Any]) -> None:
    expected = rule_to_json(parse_rule(rule))
    tree = builder.from_rule(expected)
    assert builder.to_rule(tree, CTX).rule == expected
    posted = builder.normalize(builder.from_form(fields(tree)), CTX)
    built = builder.to_rule(posted, CTX)
    assert built.error is None and built.rule == expected


def test_what_rows_cannot_hold_stays_json() -> None:
    where = builder.from_rule(RULES[3])
    assert where.children[0].kind == "json"
    comma = builder.from_rule(RULES[5])
    assert comma.children[0].kind == "json"
    assert builder.from_rule(RULES[0]).children[0].kind == "trait"


def test_the_form_rebuilds_the_tree_in_order() -> None:
    form = FormData(
        [
            ("node", "r.1"),
            ("node", "r"),
            ("node", "r.0"),
            ("node", "r.0.0"),
            ("node", "x; drop"),
            ("kind.r", "any"),
            ("kind.r.0", "not"),
            ("kind.r.0.0", "segment"),
            ("field.r.0.0", "vip"),
            ("kind.r.1", "bogus"),
            ("field.r.1", "city"),
            ("op.r.1", "="),
            ("value.r.1", "上海"),
        ]
    )
    tree = builder.from_form(form)
    assert [n.path for n in tree.walk()] == ["r", "r.0", "r.0.0", "r.1"]
    assert builder.to_rule(tree, CTX).rule == {
        "any": [{"not": {"segment": "vip"}}, {"trait": "city", "op": "=", "value": "上海"}]
    }


def test_a_row_that_changes_kind_starts_empty() -> None:
    form = FormData(
        [
            ("node", "r"),
            ("node", "r.0"),
            ("kind.r.0", "event"),
            ("was.r.0", "trait"),
            ("field.r.0", "city"),
            ("op.r.0", "in"),
        ]
    )
    row = builder.normalize(builder.from_form(form), CTX).children[0]
    assert (row.kind, row.field, row.op) == ("event", "", "")


def test_too_many_rows_are_refused() -> None:
    form = FormData([("node", f"r.{i}") for i in range(builder.MAX_NODES + 1)])
    with pytest.raises(InputError, match="more than"):
        builder.from_form(form)


def test_actions_add_and_remove_rows_and_groups() -> None:
    tree = builder.new_tree()
    tree = builder.apply_action(tree, "add:r:group")
    tree = builder.apply_action(tree, "add:r.1:condition")
    assert [(n.path, n.kind) for n in tree.walk()] == [
        ("r", "all"),
        ("r.0", "trait"),
        ("r.1", "any"),
        ("r.1.0", "trait"),
        ("r.1.1", "trait"),
    ]
    tree = builder.apply_action(tree, "remove:r.0")
    assert [n.path for n in tree.walk()] == ["r", "r.0", "r.0.0", "r.0.1"]
    for ignored in ("remove:r", "add:r.0.0:condition", "remove:r.9", "nonsense"):
        assert [n.path for n in builder.apply_action(tree, ignored).walk()] == [
            "r",
            "r.0",
            "r.0.0",
            "r.0.1",
        ]


def test_values_are_typed_by_what_they_compare() -> None:
    tree = builder.renumber(
        Node(
            "r",
            "all",
            [
                Node("", "trait", field="city", op="in", value="上海，北京, 广州"),
                Node("", "trait", field="created_at", op="between", value="7", high="30"),
                Node("", "trait", field="traits.score", op=">", value="1,000.5"),
                Node("", "tag", field="rfm_r", op="=", value="5"),
                Node("", "tag", field="rfm_group", op="in", values=("important_value",)),
                Node("", "event", field="purchase", op="", within="7"),
            ],
        )
    )
    assert builder.to_rule(tree, CTX).rule == {
        "all": [
            {"trait": "city", "op": "in", "value": ["上海", "北京", "广州"]},
            {"trait": "created_at", "op": "between", "value": [7, 30]},
            {"trait": "traits.score", "op": ">", "value": 1000.5},
            {"tag": "rfm_r", "op": "=", "value": 5},
            {"tag": "rfm_group", "op": "in", "value": ["important_value"]},
            {"event": "purchase", "within_days": 7},
        ]
    }


@pytest.mark.parametrize(
    ("rows", "message", "row"),
    [
        ([Node("", "trait")], "rule.all[0]: choose a trait", "1"),
        ([Node("", "trait", field="city", op="=")], "rule.all[0].value: give a value", "1"),
        (
            [
                Node("", "trait"),
                Node("", "any", [Node("", "event", field="x", op=">=", value="-2")]),
            ],
            "rule.all[0]: choose a trait",
            "1",
        ),
        (
            [Node("", "trait", field="city", op="is_set"), Node("", "any", [])],
            "rule.all[1]: this group is empty",
            "2",
        ),
        (
            [
                Node("", "trait", field="city", op="is_set"),
                Node("", "not", [Node("", "trait", field="age", op=">", value="old")]),
            ],
            "rule.all[1].not.value: expected a whole number of years",
            "2.1",
        ),
        ([Node("", "json", raw="{nope")], "rule.all[0]: the JSON condition is not valid JSON", "1"),
        ([Node("", "json", raw="[1]")], "rule.all[0]: a JSON condition is an object", "1"),
    ],
)
def test_an_error_names_its_row(rows: list[Node], message: str, row: str) -> None:
    tree = builder.renumber(Node("r", "all", rows))
    built = builder.to_rule(tree, CTX)
    assert built.rule is None and built.error is not None and built.error.startswith(message)
    assert builder.row_label(built.error_path) == row
    marked = [n.path for n in tree.walk() if n.error]
    assert marked == [built.error_path]


def test_a_later_error_is_blamed_on_its_row() -> None:
    tree = builder.from_rule({"all": [{"trait": "city", "op": "is_set"}, {"segment": "gone"}]})
    built = builder.to_rule(tree, CTX)
    assert built.rule is not None
    blamed = built.blame(tree, "rule.all[1].segment: unknown segment 'gone'")
    assert blamed.error_path == "r.1" and tree.find("r.1").error  # type: ignore[union-attr]
    assert builder.locate("something else", built.where) is None


def test_json_text_is_checked_before_it_is_drawn() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        builder.from_json_text("{")
    with pytest.raises(InputError, match=r"rule\.all\[0\]\.op: unknown operator"):
        builder.from_json_text('{"all": [{"trait": "city", "op": "~", "value": "x"}]}')
    tree = builder.from_json_text('{"trait": "city", "op": "is_set"}')
    assert tree.kind == "all" and tree.children[0].field == "city"


def test_each_row_offers_the_operators_that_fit() -> None:
    assert builder.ops_for(Node("r.0", "trait", field="city"), CTX) == builder.TEXT_OPS
    assert "between" in builder.ops_for(Node("r.0", "trait", field="age"), CTX)
    assert builder.ops_for(Node("r.0", "tag", field="rfm_group"), CTX) == builder.TEXT_OPS
    assert builder.ops_for(Node("r.0", "event", field="purchase"), CTX)[0] == ""
    assert "is_set" not in builder.ops_for(Node("r.0", "event", measure="sum"), CTX)
    assert "" not in builder.ops_for(Node("r.0", "event", measure="avg"), CTX)
    assert builder.widget(Node("r.0", "tag", field="rfm_group", op="in"), CTX) == "choices"
    assert builder.widget(Node("r.0", "tag", field="rfm_r", op="between"), CTX) == "range"
    assert builder.widget(Node("r.0", "trait", field="city", op="is_set"), CTX) == "none"
