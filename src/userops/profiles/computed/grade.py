"""Value grade (用户分级): a pyramid S > A > B > C > D on one score, so that resources reach the
most important users first.

docs/models.md, "Value grade", is the definition. The score is one measure over the
`lookback_days` local days ending on D: `revenue`, `orders`, `active_days`, or `events` (how
many events named `event`: answers posted, courses finished, ...). A user whose score is 0 is D.
Among the users with a score above 0:

- `shares` (percent of those users, top down, summing to 100): a user is S when fewer than S% of
  them score strictly more, A when fewer than (S + A)%, then B, C, else D; ties share a grade;
- `thresholds` (the least score of S, A, B and C, falling strictly): the first reached, else D.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.profiles.computed.base import Label, Model, Output, count_ahead, tag_rows
from userops.profiles.computed.facts import Need, money_or_zero
from userops.profiles.computed.params import ParamReader, decimal_literal, number_json

Measure = Literal["revenue", "orders", "active_days", "events"]
Method = Literal["shares", "thresholds"]

GRADES: Final = tuple(Label(g, f"{g} 级", f"Grade {g}") for g in "SABCD")
FIELDS: Final = ("measure", "event", "lookback_days", "method", "shares", "thresholds")


@dataclass(frozen=True, slots=True)
class GradeParams:
    measure: Measure = "revenue"
    event: str | None = None
    lookback_days: int = 365
    method: Method = "shares"
    shares: tuple[int, ...] = (5, 10, 20, 30, 35)  # percent of scoring users: S, A, B, C, D
    thresholds: tuple[Decimal, ...] = (
        Decimal(10000),
        Decimal(3000),
        Decimal(1000),
        Decimal(100),
    )  # least score of S, A, B, C


DEFAULTS: Final = GradeParams()


def parse(raw: Mapping[str, Any] | None) -> GradeParams:
    p = ParamReader("grade", raw, FIELDS)
    d = DEFAULTS
    measure = p.choice("measure", d.measure, ("revenue", "orders", "active_days", "events"))
    event = p.raw.get("event")
    if measure == "events":
        if not isinstance(event, str) or not event.strip() or len(event) > 200:
            raise p.error("event", "name the event to count (measure 'events'), 1-200 characters")
    elif event is not None:
        raise p.error("event", "only the measure 'events' counts an event")
    shares = tuple(
        p.check_integer("shares", v, lo=0, hi=100) for v in p.sequence("shares", d.shares, length=5)
    )
    if sum(shares) != 100:
        raise p.error("shares", f"the five shares must add up to 100, they add up to {sum(shares)}")
    if shares[0] == 0:
        raise p.error("shares", "S needs a share above 0")
    thresholds = tuple(
        p.decimal("thresholds", v) for v in p.sequence("thresholds", d.thresholds, length=4)
    )
    for before, after in itertools.pairwise(thresholds):
        if not before > after:
            raise p.error("thresholds", f"S, A, B, C must fall strictly, got {before} then {after}")
    if thresholds[-1] <= 0:
        raise p.error("thresholds", "C's least score must be above 0")
    return GradeParams(
        measure=measure,  # type: ignore[arg-type]
        event=event,
        lookback_days=p.days("lookback_days", d.lookback_days),
        method=p.choice("method", d.method, ("shares", "thresholds")),  # type: ignore[arg-type]
        shares=shares,
        thresholds=thresholds,
    )


def dump(p: GradeParams) -> dict[str, Any]:
    out: dict[str, Any] = {
        "measure": p.measure,
        "lookback_days": p.lookback_days,
        "method": p.method,
        "shares": list(p.shares),
        "thresholds": [number_json(t) for t in p.thresholds],
    }
    if p.event is not None:
        out["event"] = p.event
    return out


def _need(p: GradeParams) -> Need:
    return Need(p.measure, p.lookback_days, p.event if p.measure == "events" else None)


def needs(p: GradeParams) -> frozenset[Need]:
    return frozenset({_need(p)})


def build(facts: ir.Table, p: GradeParams, output: str, source: Source, today: date) -> ir.Table:
    raw = facts[_need(p).column]
    score = money_or_zero(raw) if p.measure == "revenue" else raw
    t = facts.select(user_id=facts.user_id, score=score)
    if p.method == "thresholds":
        grade = ibis.cases(
            *[
                (t.score >= decimal_literal(limit), g.code)
                for limit, g in zip(p.thresholds, GRADES, strict=False)
            ],
            else_="D",
        )
        return t.select(**tag_rows(t.user_id, grade, t.score))
    ranked = count_ahead(t, "score", "above", descending=True)
    ranked = ranked.mutate(n=ibis.ifelse(ranked.score > 0, 1, 0).sum().over(ibis.window()))
    cases = [(ranked.score <= 0, "D")]
    cumulative = 0
    for share, g in zip(p.shares[:4], GRADES, strict=False):
        cumulative += share
        cases.append((ranked.above * 100 < cumulative * ranked.n, g.code))
    grade = ibis.cases(*cases, else_="D")
    return ranked.select(**tag_rows(ranked.user_id, grade, ranked.score))


MODEL: Final = Model(
    name="grade",
    title="价值分级",
    title_en="Value grade",
    parse=parse,
    dump=dump,
    needs=needs,
    build=build,
    outputs={"value": Output("value", "enum", GRADES)},
)
