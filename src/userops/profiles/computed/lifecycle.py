"""Lifecycle stage (生命周期阶段): introduction 引入期, growth 成长期, maturity 成熟期, dormancy
休眠期, churn 流失期, from signup age, orders and days since last activity.

docs/models.md, "Lifecycle stage", is the definition; the first rule that holds wins:

1. churn: no activity for `churn_days` local days or more;
2. dormancy: no activity for `dormant_days` or more;
3. introduction: no order yet;
4. maturity: `mature_orders` orders or more, or signed up `mature_age_days` ago or more
   (0 turns the age rule off);
5. growth: everyone else (1 to mature_orders - 1 orders).

Activity is any event; signing up counts as activity (a user who signed up and was never seen
again goes dormant, then churns, from the signup day). The signup day is the local day of
`users.created_at`, else of the user's first event.
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
from userops.profiles.computed.facts import Need, days_before
from userops.profiles.computed.params import MAX_DAYS, ParamReader

STAGES: Final = (
    Label("introduction", "引入期", "Introduction"),
    Label("growth", "成长期", "Growth"),
    Label("maturity", "成熟期", "Maturity"),
    Label("dormancy", "休眠期", "Dormancy"),
    Label("churn", "流失期", "Churn"),
)
FIELDS: Final = ("dormant_days", "churn_days", "mature_orders", "mature_age_days")


@dataclass(frozen=True, slots=True)
class LifecycleParams:
    dormant_days: int = 30
    churn_days: int = 90
    mature_orders: int = 3
    mature_age_days: int = 365  # 0: signup age never makes a user mature


DEFAULTS: Final = LifecycleParams()


def parse(raw: Mapping[str, Any] | None) -> LifecycleParams:
    p = ParamReader("lifecycle", raw, FIELDS)
    d = DEFAULTS
    params = LifecycleParams(
        dormant_days=p.days("dormant_days", d.dormant_days),
        churn_days=p.days("churn_days", d.churn_days),
        mature_orders=p.integer("mature_orders", d.mature_orders, lo=2, hi=1_000_000),
        mature_age_days=p.integer("mature_age_days", d.mature_age_days, lo=0, hi=MAX_DAYS),
    )
    if params.churn_days <= params.dormant_days:
        raise p.error(
            "churn_days",
            f"{params.churn_days} must be more than dormant_days ({params.dormant_days})",
        )
    return params


def dump(p: LifecycleParams) -> dict[str, Any]:
    return {
        "dormant_days": p.dormant_days,
        "churn_days": p.churn_days,
        "mature_orders": p.mature_orders,
        "mature_age_days": p.mature_age_days,
    }


def needs(p: LifecycleParams) -> frozenset[Need]:
    return frozenset()


def latest(a: ir.TimestampValue, b: ir.TimestampValue) -> ir.TimestampValue:
    """The later of two instants, either one possibly null (`greatest` treats nulls
    differently on DuckDB and ClickHouse)."""
    return ibis.ifelse(a.isnull(), b, ibis.ifelse(b.isnull() | (a > b), a, b))


def build(
    facts: ir.Table, p: LifecycleParams, output: str, source: Source, today: date
) -> ir.Table:
    seen = facts.mutate(
        last_seen=latest(facts.last_at, facts.created_at),
        signup=ibis.coalesce(facts.created_at, facts.first_at),
    )
    seen = seen.filter(seen.last_seen.notnull())
    inactive = days_before(source, seen.last_seen, today)
    age = days_before(source, seen.signup, today)
    mature = seen.orders >= p.mature_orders
    if p.mature_age_days:
        mature = mature | (age >= p.mature_age_days)
    stage = ibis.cases(
        (inactive >= p.churn_days, "churn"),
        (inactive >= p.dormant_days, "dormancy"),
        (seen.orders == 0, "introduction"),
        (mature, "maturity"),
        else_="growth",
    )
    return seen.select(**tag_rows(seen.user_id, stage))


MODEL: Final = Model(
    name="lifecycle",
    title="生命周期阶段",
    title_en="Lifecycle stage",
    parse=parse,
    dump=dump,
    needs=needs,
    build=build,
    outputs={"value": Output("value", "enum", STAGES)},
)
