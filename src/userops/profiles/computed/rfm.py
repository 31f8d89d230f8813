"""RFM (最近一次消费 / 消费频率 / 消费金额): recency, frequency and monetary value of each buyer
within a lookback window, scored 1-5, and the eight classic groups (重要价值 ... 一般挽留).

docs/models.md, "RFM", is the definition; in short, for the buyers (one order or more within
the `lookback_days` local days ending on D):

- R = days from the local day of the last order to D; F = orders; M = revenue, in the window;
- scores 1-5: `quantile`: 1 + floor(5 x share of buyers strictly worse on that measure), so
  ties share a score and every score is reached only when the data allows it; `threshold`:
  fixed edges (R: 5 when R <= edge 1, ... 1 beyond edge 4; F, M: 1 + edges reached);
- high or low per score: `mean`: above the buyers' average score; `cut`: at least the cut;
- the group from (R, F, M) high/low: 重要价值 HHH, 重要发展 HLH, 重要保持 LHH, 重要挽留 LLH,
  一般价值 HHL, 一般发展 HLL, 一般保持 LHL, 一般挽留 LLL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.profiles.computed.base import Label, Model, Output, count_ahead, tag_rows
from userops.profiles.computed.facts import Need, days_before
from userops.profiles.computed.params import ParamReader, decimal_literal, number_json

Scoring = Literal["quantile", "threshold"]
Compare = Literal["mean", "cut"]

GROUPS: Final[dict[tuple[bool, bool, bool], Label]] = {
    (True, True, True): Label("important_value", "重要价值", "Important value"),
    (True, False, True): Label("important_develop", "重要发展", "Important to develop"),
    (False, True, True): Label("important_keep", "重要保持", "Important to keep"),
    (False, False, True): Label("important_winback", "重要挽留", "Important to win back"),
    (True, True, False): Label("general_value", "一般价值", "General value"),
    (True, False, False): Label("general_develop", "一般发展", "General to develop"),
    (False, True, False): Label("general_keep", "一般保持", "General to keep"),
    (False, False, False): Label("general_winback", "一般挽留", "General to win back"),
}
SCORES: Final = tuple(Label(str(s), f"{s} 分", f"score {s}") for s in range(1, 6))
FIELDS: Final = (
    "lookback_days",
    "scoring",
    "recency_edges",
    "frequency_edges",
    "monetary_edges",
    "compare",
    "r_cut",
    "f_cut",
    "m_cut",
)


@dataclass(frozen=True, slots=True)
class RfmParams:
    lookback_days: int = 365
    scoring: Scoring = "quantile"
    recency_edges: tuple[int, ...] = (30, 60, 90, 180)  # days: R 5 up to the first, ...
    frequency_edges: tuple[int, ...] = (2, 3, 5, 8)  # orders: F 2 from the first, ...
    monetary_edges: tuple[Decimal, ...] = (
        Decimal(100),
        Decimal(300),
        Decimal(1000),
        Decimal(3000),
    )
    compare: Compare = "mean"
    r_cut: int = 3
    f_cut: int = 3
    m_cut: int = 3


DEFAULTS: Final = RfmParams()


def parse(raw: Mapping[str, Any] | None) -> RfmParams:
    p = ParamReader("rfm", raw, FIELDS)
    d = DEFAULTS
    return RfmParams(
        lookback_days=p.days("lookback_days", d.lookback_days),
        scoring=p.choice("scoring", d.scoring, ("quantile", "threshold")),  # type: ignore[arg-type]
        recency_edges=p.ascending_integers(
            "recency_edges", d.recency_edges, length=4, lo=0, hi=100_000
        ),
        frequency_edges=p.ascending_integers(
            "frequency_edges", d.frequency_edges, length=4, lo=1, hi=10_000_000
        ),
        monetary_edges=p.ascending_decimals("monetary_edges", d.monetary_edges, length=4),
        compare=p.choice("compare", d.compare, ("mean", "cut")),  # type: ignore[arg-type]
        r_cut=p.integer("r_cut", d.r_cut, lo=1, hi=5),
        f_cut=p.integer("f_cut", d.f_cut, lo=1, hi=5),
        m_cut=p.integer("m_cut", d.m_cut, lo=1, hi=5),
    )


def dump(p: RfmParams) -> dict[str, Any]:
    return {
        "lookback_days": p.lookback_days,
        "scoring": p.scoring,
        "recency_edges": list(p.recency_edges),
        "frequency_edges": list(p.frequency_edges),
        "monetary_edges": [number_json(v) for v in p.monetary_edges],
        "compare": p.compare,
        "r_cut": p.r_cut,
        "f_cut": p.f_cut,
        "m_cut": p.m_cut,
    }


def needs(p: RfmParams) -> frozenset[Need]:
    return frozenset({Need("orders", p.lookback_days), Need("revenue", p.lookback_days)})


def _quantile_score(below: ir.IntegerValue, n: ir.IntegerValue) -> ir.IntegerValue:
    """1 + floor(5 x below / n): below = buyers strictly worse."""
    return 1 + (5 * below) // n


def _count(conditions: list[ir.BooleanValue]) -> ir.IntegerValue:
    total: ir.IntegerValue = ibis.literal(0)
    for condition in conditions:
        total = total + ibis.ifelse(condition, 1, 0)
    return total


def scores(facts: ir.Table, p: RfmParams, source: Source, today: date) -> ir.Table:
    """One row per buyer in the window: user_id, recency, frequency, monetary, r, f, m."""
    orders = Need("orders", p.lookback_days).column
    buyers = facts.filter(facts[orders] > 0)
    t = buyers.select(
        user_id=buyers.user_id,
        recency=days_before(source, buyers.last_order_at, today),
        frequency=buyers[orders],
        monetary=buyers[Need("revenue", p.lookback_days).column],
    )
    if p.scoring == "quantile":
        t = count_ahead(t, "recency", "worse_r", descending=True)
        t = count_ahead(t, "frequency", "worse_f", descending=False)
        t = count_ahead(t, "monetary", "worse_m", descending=False)
        n = t.user_id.count().over(ibis.window())
        t = t.mutate(
            r=_quantile_score(t.worse_r, n),
            f=_quantile_score(t.worse_f, n),
            m=_quantile_score(t.worse_m, n),
        )
        return t.drop("worse_r", "worse_f", "worse_m")
    return t.mutate(
        r=5 - _count([t.recency > e for e in p.recency_edges]),
        f=1 + _count([t.frequency >= e for e in p.frequency_edges]),
        m=1 + _count([t.monetary >= decimal_literal(e) for e in p.monetary_edges]),
    )


def _group(t: ir.Table, p: RfmParams) -> ir.Value:
    if p.compare == "mean":
        n = t.user_id.count().over(ibis.window())
        # score > average  <=>  score x n > sum of scores: exact on integers, on every engine
        high = [t[s] * n > t[s].sum().over(ibis.window()) for s in ("r", "f", "m")]
    else:
        high = [t.r >= p.r_cut, t.f >= p.f_cut, t.m >= p.m_cut]
    cases = []
    for (hr, hf, hm), label in GROUPS.items():
        condition = (high[0] if hr else ~high[0]) & (high[1] if hf else ~high[1])
        cases.append((condition & (high[2] if hm else ~high[2]), label.code))
    return ibis.cases(*cases)


def build(facts: ir.Table, p: RfmParams, output: str, source: Source, today: date) -> ir.Table:
    t = scores(facts, p, source, today)
    if output == "group":
        # the scores are window results: compare them in an outer query
        t = t.select("user_id", "r", "f", "m")
        return t.select(**tag_rows(t.user_id, _group(t, p)))
    score = t[output]
    return t.select(**tag_rows(t.user_id, score, score))


MODEL: Final = Model(
    name="rfm",
    title="RFM 模型",
    title_en="RFM model",
    parse=parse,
    dump=dump,
    needs=needs,
    build=build,
    outputs={
        "group": Output("group", "enum", tuple(GROUPS.values())),
        "r": Output("r", "number", SCORES),
        "f": Output("f", "number", SCORES),
        "m": Output("m", "number", SCORES),
    },
)
