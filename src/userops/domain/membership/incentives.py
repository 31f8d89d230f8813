"""Incentive rules (激励体系): which behaviour earns what, within which caps.

A rule says: when a user does event E whose properties pass the filters, give points and/or
growth value, either a fixed amount or an amount per unit spent (per 1 yuan: 100 fen), times the
user's level multiplier when the rule asks for it, never more than the caps allow per local day,
per period (week, month or year) and per user lifetime. `plan_awards` is the whole engine, pure:
the service loads what was already given (the counters), calls it, and writes the grants.

Order matters only inside a capped window (which event of the day got the last points); the
total a user receives from a rule does not depend on the order (laminar caps filled greedily
reach the same total), and `plan_awards` sorts the events by time and message id so that the
same events give the same grants however they are batched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from userops.domain.bounds import check_instant
from userops.domain.membership.periods import PeriodKind, local_day, period_start
from userops.domain.membership.points import MAX_POINTS, ExpiryRule
from userops.errors import InputError

FilterOp = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "missing", "contains"
]
FILTER_OPS: Final[tuple[str, ...]] = get_args(FilterOp)
AmountMode = Literal["none", "fixed", "per_amount"]
AMOUNT_MODES: Final[tuple[str, ...]] = get_args(AmountMode)
CapPeriod = Literal["week", "month", "year"]
CAP_PERIODS: Final[tuple[str, ...]] = get_args(CapPeriod)
Window = Literal["day", "period", "life"]
LIFETIME: Final = date(1970, 1, 1)
"""The `start` of the lifetime counter (one per rule and user)."""

_TEXT_FILTER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|>|<| in | not in )\s*(.*)$")
_SYMBOLS: Final[dict[str, FilterOp]] = {
    "=": "eq",
    "!=": "ne",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    " in ": "in",
    " not in ": "not_in",
}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition on an event property: `property` may be a dotted path (`context.os.name`
    is not reachable: only properties; `items.0.category` is)."""

    property: str
    op: FilterOp
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in FILTER_OPS:
            raise InputError(f"filter op {self.op!r} is not one of {', '.join(FILTER_OPS)}")
        if not self.property:
            raise InputError("a filter needs a property name")
        if self.op in ("in", "not_in") and not isinstance(self.value, list | tuple):
            raise InputError(f"filter {self.property} {self.op} needs a list of values")

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Filter:
        try:
            value = doc.get("value")
            return cls(
                str(doc["property"]),
                doc["op"],
                list(value) if isinstance(value, list | tuple) else value,
            )
        except KeyError as exc:
            raise InputError(f"a filter needs {exc.args[0]!r}: {dict(doc)}") from exc

    @classmethod
    def parse(cls, text: str) -> Filter:
        """`category=美妆个护`, `revenue>=100`, `method in invite_link,qrcode`, `order_id?`
        (the property exists)."""
        stripped = text.strip()
        if stripped.endswith("?"):
            return cls(stripped[:-1].strip(), "exists")
        found = _TEXT_FILTER.match(stripped)
        if found is None:
            raise InputError(f"filter {text!r} is not PROPERTY OP VALUE (=, !=, >, >=, <, <=, in)")
        name, symbol, raw = found.groups()
        op = _SYMBOLS[symbol]
        value: Any = (
            [_scalar(v) for v in raw.split(",")] if op in ("in", "not_in") else _scalar(raw)
        )
        return cls(name, op, value)

    def as_json(self) -> dict[str, Any]:
        return {"property": self.property, "op": self.op, "value": self.value}

    def passes(self, properties: Mapping[str, Any]) -> bool:
        found = _lookup(properties, self.property)
        if self.op == "exists":
            return found is not _MISSING and found is not None
        if self.op == "missing":
            return found is _MISSING or found is None
        if found is _MISSING or found is None:
            return self.op in ("ne", "not_in")
        if self.op in ("eq", "ne"):
            return _equal(found, self.value) == (self.op == "eq")
        if self.op in ("in", "not_in"):
            return any(_equal(found, v) for v in self.value) == (self.op == "in")
        if self.op == "contains":
            if isinstance(found, str):
                return str(self.value) in found
            return isinstance(found, list) and any(_equal(item, self.value) for item in found)
        left, right = _number(found), _number(self.value)
        if left is None or right is None:
            return False
        return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[
            self.op
        ]


def _scalar(text: str) -> Any:
    """A filter value typed from text: quoted stays text, true/false, whole numbers as int;
    decimals stay text (filters compare numeric text as numbers anyway)."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?\d{1,18}", value):
        return int(value)
    return value


def _lookup(properties: Mapping[str, Any], path: str) -> Any:
    if path in properties:
        return properties[path]
    current: Any = properties
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _equal(left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or left == right
    return str(left) == str(right)


def matches(filters: Iterable[Filter], properties: Mapping[str, Any]) -> bool:
    """True when the properties pass every filter (no filters: every event passes)."""
    return all(f.passes(properties) for f in filters)


def to_cents(value: Any) -> int | None:
    """An amount of money in currency units (yuan) as whole cents (fen), rounded down; None
    when absent or not a number."""
    number = _number(value)
    if number is None:
        return None
    return int((number * 100).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class AwardFormula:
    """`fixed`: `value` per event. `per_amount`: `value` per whole `unit_cents` of the event's
    revenue (value=1, unit_cents=100: one point per yuan; refunds and no revenue give 0)."""

    mode: AmountMode = "none"
    value: int = 0
    unit_cents: int = 100

    def __post_init__(self) -> None:
        if self.mode not in AMOUNT_MODES:
            raise InputError(f"amount mode {self.mode!r} is not one of {', '.join(AMOUNT_MODES)}")
        if self.mode != "none" and not 1 <= self.value <= MAX_POINTS:
            raise InputError(
                f"an award of mode {self.mode} needs a value of 1 to {MAX_POINTS}, not {self.value}"
            )
        if not 1 <= self.unit_cents <= MAX_POINTS:
            raise InputError(
                f"the amount unit must be 1 to {MAX_POINTS} cents, not {self.unit_cents}"
            )

    def base(self, revenue_cents: int | None) -> int:
        if self.mode == "fixed":
            return self.value
        if self.mode == "per_amount" and revenue_cents is not None and revenue_cents > 0:
            return (revenue_cents // self.unit_cents) * self.value
        return 0


@dataclass(frozen=True, slots=True)
class Caps:
    """Upper bounds on what a rule gives one user (None: no bound)."""

    day: int | None = None
    period: int | None = None
    lifetime: int | None = None

    def __post_init__(self) -> None:
        for name in ("day", "period", "lifetime"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_POINTS:
                raise InputError(f"the {name} cap must be 0 to {MAX_POINTS}, not {value}")

    @property
    def any(self) -> bool:
        return self.day is not None or self.period is not None or self.lifetime is not None


@dataclass(frozen=True, slots=True)
class Used:
    """What the rule already gave the user in the event's day, period and lifetime."""

    day: int = 0
    period: int = 0
    lifetime: int = 0


def capped(proposed: int, caps: Caps, used: Used) -> int:
    """The part of `proposed` the caps still allow (0 or more, never more than proposed)."""
    allowed = proposed
    for cap, spent in (
        (caps.day, used.day),
        (caps.period, used.period),
        (caps.lifetime, used.lifetime),
    ):
        if cap is not None:
            allowed = min(allowed, cap - spent)
    return max(0, allowed)


def multiplied(amount: int, percent: int) -> int:
    """`amount` times a level multiplier in percent (150 = x1.5), rounded down."""
    return amount * percent // 100


def check_rule_times(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """A new or changed rule's start and end: aware, within 1970-2200, the end after the
    start (None: from now on, for good)."""
    if starts_at is not None:
        check_instant(starts_at, "the rule's start (starts_at)")
    if ends_at is not None:
        check_instant(ends_at, "the rule's end (ends_at)")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InputError("a rule must end after it starts")


@dataclass(frozen=True, slots=True)
class IncentiveRule:
    id: int
    code: str
    event: str
    filters: tuple[Filter, ...] = ()
    points: AwardFormula = AwardFormula()
    growth: AwardFormula = AwardFormula()
    points_caps: Caps = Caps()
    growth_caps: Caps = Caps()
    cap_period: CapPeriod = "month"
    use_multiplier: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    maturity_days: int = 0
    expiry: ExpiryRule = field(default_factory=ExpiryRule)
    reference_property: str | None = "order_id"

    def __post_init__(self) -> None:
        if self.cap_period not in CAP_PERIODS:
            raise InputError(f"cap period {self.cap_period!r} is not one of week, month, year")
        if self.points.mode == "none" and self.growth.mode == "none":
            raise InputError(f"rule {self.code!r} gives neither points nor growth value")

    def applies_to(self, event: RuleEvent) -> bool:
        if event.event != self.event or not event.user_id:
            return False
        if self.starts_at is not None and event.timestamp < self.starts_at:
            return False
        if self.ends_at is not None and event.timestamp >= self.ends_at:
            return False
        return matches(self.filters, event.properties)

    @property
    def capped(self) -> bool:
        return self.points_caps.any or self.growth_caps.any


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """The part of a warehouse event row the rules read."""

    message_id: str
    user_id: str | None
    event: str | None
    timestamp: datetime
    revenue_cents: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RuleEvent:
        """From a row with the warehouse's column names (`revenue` lifted or in properties)."""
        properties = row.get("properties") or {}
        if not isinstance(properties, Mapping):
            properties = {}
        revenue = row.get("revenue")
        if revenue is None:
            revenue = properties.get("revenue")
        return cls(
            message_id=str(row["message_id"]),
            user_id=row.get("user_id"),
            event=row.get("event"),
            timestamp=row["timestamp"],
            revenue_cents=to_cents(revenue),
            properties=properties,
        )


CounterKey = tuple[int, str, Window, date]
"""(rule id, user id, window, first day of the window; LIFETIME for the lifetime counter)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one event earned under one rule (possibly 0 and 0: capped, but applied)."""

    rule_id: int
    message_id: str
    user_id: str
    event_at: datetime
    points: int
    growth: int
    reference: str | None


def counter_keys(rule: IncentiveRule, user_id: str, day: date) -> tuple[CounterKey, ...]:
    """The day, period and lifetime counters an event on local `day` counts towards."""
    period: PeriodKind = rule.cap_period
    return (
        (rule.id, user_id, "day", day),
        (rule.id, user_id, "period", period_start(day, period)),
        (rule.id, user_id, "life", LIFETIME),
    )


def event_order(event: RuleEvent) -> tuple[datetime, str]:
    return (event.timestamp, event.message_id)


def plan_awards(
    rules: Sequence[IncentiveRule],
    events: Iterable[RuleEvent],
    *,
    tz: tzinfo,
    counters: Mapping[CounterKey, tuple[int, int]] | None = None,
    multiplier: Callable[[IncentiveRule, str, datetime], int] | None = None,
    applied: Callable[[int, str], bool] | None = None,
) -> tuple[list[Grant], dict[CounterKey, tuple[int, int]]]:
    """The grants of every (rule, event) pair not `applied` yet, in event order.

    `counters` hold (points, growth) already given per counter key (only capped rules need
    them); the returned dict holds the counters touched, updated. `multiplier(rule, user, at)`
    gives the user's level multiplier in percent at the event's time (default 100).
    """
    state: dict[CounterKey, tuple[int, int]] = {}
    known = counters or {}
    grants: list[Grant] = []
    for event in sorted(events, key=event_order):
        for rule in rules:
            if not rule.applies_to(event):
                continue
            assert event.user_id is not None
            if applied is not None and applied(rule.id, event.message_id):
                continue
            grants.append(_grant(rule, event, event.user_id, tz, known, state, multiplier))
    return grants, state


def _grant(
    rule: IncentiveRule,
    event: RuleEvent,
    user_id: str,
    tz: tzinfo,
    known: Mapping[CounterKey, tuple[int, int]],
    state: dict[CounterKey, tuple[int, int]],
    multiplier: Callable[[IncentiveRule, str, datetime], int] | None,
) -> Grant:
    points = rule.points.base(event.revenue_cents)
    growth = rule.growth.base(event.revenue_cents)
    if rule.use_multiplier and multiplier is not None and points:
        points = multiplied(points, multiplier(rule, user_id, event.timestamp))
    if rule.capped:
        keys = counter_keys(rule, user_id, local_day(event.timestamp, tz))
        given = [state.get(key, known.get(key, (0, 0))) for key in keys]
        points = capped(points, rule.points_caps, Used(*(g[0] for g in given)))
        growth = capped(growth, rule.growth_caps, Used(*(g[1] for g in given)))
        for key, (p, g) in zip(keys, given, strict=True):
            state[key] = (p + points, g + growth)
    reference = None
    if rule.reference_property:
        found = _lookup(event.properties, rule.reference_property)
        if found is not _MISSING and found is not None and str(found):
            reference = str(found)[:200]
    return Grant(rule.id, event.message_id, user_id, event.timestamp, points, growth, reference)
