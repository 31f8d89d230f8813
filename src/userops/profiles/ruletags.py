"""Rule tags (规则标签): tags whose value comes from an audience rule (docs/segments.md).

A tag of kind "rule" keeps its definition in `tags.definition`:

- boolean: `{"when": RULE}`: the users the rule holds for get the value `'true'`; the others
  get no row (a condition `{"tag": CODE, "op": "not_set"}` finds them);
- enum: `{"cases": [{"when": RULE, "then": "A"}, ...], "else": "C"}`: each user gets the
  `then` of the first case that holds, else `else`; without `else`, users matching no case get
  no row.

The users considered are the universe of `profiles.conditions` (the `users` table and every user
seen in events). The tag refresh (userops.profiles.refresh) calls `evaluate_rule_tag` and writes
the rows to `tag_values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.domain.audience import BooleanRuleTag, parse_rule_tag, tag_rules
from userops.domain.bounds import check_day
from userops.profiles.conditions import USER_ID, evaluate


def evaluate_rule_tag(source: Source, definition: Mapping[str, Any], *, today: date) -> ir.Table:
    """The rows of a rule tag on local day `today`: `user_id` (string), `value` (string) and
    `number` (float64, always null: rule tags are boolean or enum), one row per tagged user.

    `definition` is the tag's JSON definition; a bad one raises InputError naming the part
    (`definition.cases[1].when.op: ...`).
    """
    check_day(today, "today")
    tag = parse_rule_tag(definition)
    rules = tag_rules(tag)
    table = evaluate(source, rules, today=today)
    if isinstance(tag, BooleanRuleTag):
        value: ir.StringValue = ibis.ifelse(
            table["m0"], ibis.literal("true", type=dt.string), ibis.null(dt.string)
        )
    else:
        otherwise = (
            ibis.null(dt.string)
            if tag.otherwise is None
            else ibis.literal(tag.otherwise, type=dt.string)
        )
        value = ibis.cases(
            *[
                (table[f"m{i}"], ibis.literal(case.then, type=dt.string))
                for i, case in enumerate(tag.cases)
            ],
            else_=otherwise,
        )
    rows = table.select(
        **{USER_ID: table[USER_ID].cast(dt.string)},
        value=value.cast(dt.string),
        number=ibis.null(dt.float64),
    )
    return rows.filter(rows.value.notnull())
