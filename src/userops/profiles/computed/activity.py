"""Activity level (活跃度): high 高活跃, medium 中活跃, low 低活跃, silent 沉默, from the number
of local days with any event within the last `window_days` days ending on D.

docs/models.md, "Activity level", is the definition: `high_days` active days or more is high,
`medium_days` or more is medium, 1 or more is low, none is silent (沉默用户: a known user with
no event in the window, including one who never had any).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.profiles.computed.base import Label, Model, Output, tag_rows
from userops.profiles.computed.facts import Need
from userops.profiles.computed.params import ParamReader

LEVELS: Final = (
    Label("high", "高活跃", "Highly active"),
    Label("medium", "中活跃", "Moderately active"),
    Label("low", "低活跃", "Barely active"),
    Label("silent", "沉默", "Silent"),
)
FIELDS: Final = ("window_days", "high_days", "medium_days")


@dataclass(frozen=True, slots=True)
class ActivityParams:
    window_days: int = 30
    high_days: int = 10
    medium_days: int = 3


DEFAULTS: Final = ActivityParams()


def parse(raw: Mapping[str, Any] | None) -> ActivityParams:
    p = ParamReader("activity", raw, FIELDS)
    d = DEFAULTS
    params = ActivityParams(
        window_days=p.days("window_days", d.window_days),
        high_days=p.days("high_days", d.high_days),
        medium_days=p.integer("medium_days", d.medium_days, lo=2, hi=3660),
    )
    if params.high_days > params.window_days:
        raise p.error(
            "high_days", f"{params.high_days} is more than window_days ({params.window_days})"
        )
    if params.medium_days >= params.high_days:
        raise p.error(
            "medium_days", f"{params.medium_days} must be less than high_days ({params.high_days})"
        )
    return params


def dump(p: ActivityParams) -> dict[str, Any]:
    return {"window_days": p.window_days, "high_days": p.high_days, "medium_days": p.medium_days}


def needs(p: ActivityParams) -> frozenset[Need]:
    return frozenset({Need("active_days", p.window_days)})


def build(facts: ir.Table, p: ActivityParams, output: str, source: Source, today: date) -> ir.Table:
    days = facts[Need("active_days", p.window_days).column]
    level = ibis.cases(
        (days >= p.high_days, "high"),
        (days >= p.medium_days, "medium"),
        (days >= 1, "low"),
        else_="silent",
    )
    return facts.select(**tag_rows(facts.user_id, level, days))


MODEL: Final = Model(
    name="activity",
    title="活跃度",
    title_en="Activity level",
    parse=parse,
    dump=dump,
    needs=needs,
    build=build,
    outputs={"value": Output("value", "enum", LEVELS)},
)
