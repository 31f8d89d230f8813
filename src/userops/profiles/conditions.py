"""Audience rules compiled to Ibis: one row per user, a boolean per rule.

The **universe** is every user the warehouse knows: the ids of the `users` table and every
`uid` of the resolved events (`analytics.base.resolved_events`: anonymous events belong to the
user their anonymous id was linked to; an anonymous visitor who never logged in is a user of
their own, by the anonymous id), as in every metric. So "did not purchase" includes users with
no events at all, and users with events but no `users` row have every trait unset.

The universe is left-joined to what the conditions need, each computed once per rule:

- the `users` row (traits, custom traits JSON, birthday, created_at);
- one pivot of `tag_values` for all the tags named (value and number of each);
- one aggregate of the resolved events per user over the events named, with a column per
  distinct behaviour (event, property filters, window, measure);
- one pivot of `segment_members` for the segments named.

Then each condition is a boolean expression over that row, never null (a missing value makes
`=`, `in`, `<`... false and their negations `!=`, `not_in`, `not_set` true), so `not`, `all`
and `any` compose without SQL's three-valued surprises. Every value reaches the engine as an
Ibis literal, never as SQL text. "Today" is a local day of the configured time zone; a window
of `within_days = D` covers the local days today-D+1 .. today, and no event after today counts.
The expressions run on DuckDB and compile for ClickHouse (tests/conformance/test_segments.py);
on ClickHouse outer joins need `join_use_nulls = 1` (docs/deployment.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source, day_start, local_date, resolved_events
from userops.analytics.filters import JsonField, json_equals
from userops.domain.audience import (
    NEGATIVE_OPS,
    TIME_MEASURES,
    TRAIT_FIELDS,
    TRAITS_PREFIX,
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    Measure,
    Not,
    Op,
    PropertyCondition,
    Rule,
    Scalar,
    SegmentCondition,
    TagCondition,
    TraitCondition,
    Value,
    conditions,
    parse_iso_date,
    years_before,
)

USER_ID: Final = "user_id"
_INSTANT: Final = dt.Timestamp(timezone="UTC", scale=6)
POSITIVE: Final[dict[str, Op]] = {"!=": "=", "not_in": "in", "not_set": "is_set"}
"""The positive operator each negative one negates."""
FLIPPED: Final[dict[str, Op]] = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
"""An order on days ago as the order on days (more days ago is an earlier day)."""
_USER_COLUMNS: Final = tuple(f for f, kind in TRAIT_FIELDS.items() if kind != "age")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one behaviour condition measures, without its comparison: conditions measuring the
    same thing share one aggregate column."""

    event: str
    filters: tuple[PropertyCondition, ...]
    measure: Measure
    prop: str | None
    within_days: int | None

    @classmethod
    def of(cls, condition: EventCondition) -> Behaviour:
        return cls(
            condition.event,
            condition.filters,
            condition.effective_measure,
            condition.prop,
            condition.within_days,
        )


def universe(source: Source, events: ir.Table | None = None) -> ir.Table:
    """Every user id: the `users` table's and every resolved event's `uid` (distinct).

    `events` is `resolved_events(source)` when the caller has it already."""
    users = source.table("users")
    known = users.select(**{USER_ID: users.user_id.cast(dt.string)})
    events = resolved_events(source) if events is None else events
    seen = events.filter(events.uid.notnull()).select(**{USER_ID: events.uid.cast(dt.string)})
    return known.union(seen, distinct=True)


def audience(source: Source, rule: Rule, *, today: date) -> ir.Table:
    """The users `rule` holds for on local day `today`: one column, `user_id`."""
    compiled = _Compiler(source, today, [rule])
    table = compiled.table
    return table.filter(compiled.predicate(rule)).select(USER_ID)


def evaluate(source: Source, rules: Sequence[Rule], *, today: date) -> ir.Table:
    """Every user of the universe with `m0`..`mN`: whether each rule holds (never null)."""
    compiled = _Compiler(source, today, list(rules))
    table = compiled.table
    return table.select(
        USER_ID, **{f"m{i}": compiled.predicate(rule) for i, rule in enumerate(rules)}
    )


POSITION: Final = "_pos"


def positions_holding(
    source: Source, condition: Condition, *, today: date, people: ir.Table
) -> ir.Table:
    """The `_pos` of the users of `people` (a table of `user_id` and `_pos`, every user of the
    universe once) that `condition` holds for: the compiled condition, exactly as `audience`
    evaluates it, over a universe already known (profiles/livecount.py's fallback)."""
    compiled = _Compiler(source, today, [condition], people=people)
    return compiled.table.filter(compiled.predicate(condition)).select(POSITION)


def behaviour_values(
    source: Source, condition: EventCondition, *, today: date, people: ir.Table
) -> ir.Table:
    """What a behaviour condition measures, for the users of `people` who have events it
    counts: `_pos`, `found` (how many events, or numbers of the property, it measured) and
    `value` (the count; the sum, avg, max or min as a float; the local date of first_time or
    last_time). The others have a count and a sum of 0 and no value."""
    compiled = _Compiler(source, today, [condition], people=people, only_events=True)
    i = compiled.behaviours[Behaviour.of(condition)]
    table = compiled.table
    measure = condition.effective_measure
    if measure == "count":
        found, value = table[f"_e{i}"], table[f"_e{i}"]
    elif measure in TIME_MEASURES:
        found, value = table[f"_e{i}_c"], local_date(source, table[f"_e{i}"])
    else:
        found, value = table[f"_e{i}_c"], table[f"_e{i}"].cast(dt.float64)
    chosen = table.filter(found > 0)
    return chosen.select(POSITION, found=found, value=value)


# --- building the per-user table --------------------------------------------------------------


class _Compiler:
    """The per-user table a set of rules needs (`table`) and each rule as a boolean over it.

    `people`, when given, stands in for `universe`: a table of every user id (`user_id`) with
    its position (`_pos`) in a population kept elsewhere. `only_events` joins the events'
    aggregate to it with an inner join (the users with matching events only)."""

    def __init__(
        self,
        source: Source,
        today: date,
        rules: Sequence[Rule],
        *,
        people: ir.Table | None = None,
        only_events: bool = False,
    ):
        self.source = source
        self.today = today
        self.people = people
        self.only_events = only_events
        leaves = [c for rule in rules for c in conditions(rule)]
        self.traits = sorted(
            {c.field for c in leaves if isinstance(c, TraitCondition)},
        )
        self.tags = sorted({c.tag for c in leaves if isinstance(c, TagCondition)})
        self.segments = sorted({c.segment for c in leaves if isinstance(c, SegmentCondition)})
        behaviours: dict[Behaviour, int] = {}
        for c in leaves:
            if isinstance(c, EventCondition):
                behaviours.setdefault(Behaviour.of(c), len(behaviours))
        self.behaviours = behaviours
        self.resolved = resolved_events(source)
        self.table = self._build()

    def _build(self) -> ir.Table:
        table = universe(self.source, self.resolved) if self.people is None else self.people
        for part, key in (self._users(), self._tags(), self._events(), self._segments()):
            if part is not None:
                condition = table[USER_ID] == part[key]
                if self.only_events and key == "_e_key":
                    joined = table.inner_join(part, condition)
                else:
                    joined = table.left_join(part, condition)
                table = joined.select([joined[c] for c in joined.columns if c != key])
        return table

    def _users(self) -> tuple[ir.Table | None, str]:
        if not self.traits:
            return None, ""
        users = self.source.table("users")
        wanted = {"_u_traits"} if any(f.startswith(TRAITS_PREFIX) for f in self.traits) else set()
        for field in self.traits:
            if field in _USER_COLUMNS and field != USER_ID:
                wanted.add(f"_u_{field}")
            elif field == "age":
                wanted.add("_u_birthday")
        columns = {name: users[name[3:]] for name in sorted(wanted)}
        return users.select(_u_key=users.user_id.cast(dt.string), **columns), "_u_key"

    def _tags(self) -> tuple[ir.Table | None, str]:
        if not self.tags:
            return None, ""
        values = self.source.table("tag_values")
        values = values.filter(values.tag.isin(self.tags))
        aggregates: dict[str, ir.Value] = {}
        for i, code in enumerate(self.tags):
            mine = values.tag == code
            aggregates[f"_t{i}_c"] = values.count(where=mine)
            aggregates[f"_t{i}_v"] = values.value.max(where=mine)
            aggregates[f"_t{i}_n"] = values.number.max(where=mine)
        pivot = values.group_by(_t_key=values.user_id.cast(dt.string)).aggregate(**aggregates)
        return pivot, "_t_key"

    def _segments(self) -> tuple[ir.Table | None, str]:
        if not self.segments:
            return None, ""
        members = self.source.table("segment_members")
        members = members.filter(members.segment.isin(self.segments))
        aggregates = {
            f"_s{i}": members.count(where=members.segment == code)
            for i, code in enumerate(self.segments)
        }
        pivot = members.group_by(_s_key=members.user_id.cast(dt.string)).aggregate(**aggregates)
        return pivot, "_s_key"

    def _window_start(self, days: int) -> ir.TimestampScalar:
        first = self.today - timedelta(days=days - 1)
        return ibis.literal(day_start(self.source.timezone, first), type=_INSTANT)

    def _events(self) -> tuple[ir.Table | None, str]:
        if not self.behaviours:
            return None, ""
        events = self.resolved
        names = sorted({b.event for b in self.behaviours})
        end = day_start(self.source.timezone, self.today + timedelta(days=1))
        bounds = [
            events.event.isin(names),
            events.timestamp < ibis.literal(end, type=_INSTANT),
            events.uid.notnull(),
        ]
        windows = [b.within_days for b in self.behaviours]
        if all(w is not None for w in windows):
            bounds.append(events.timestamp >= self._window_start(max(w or 0 for w in windows)))
        events = events.filter(*bounds)
        aggregates: dict[str, ir.Value] = {}
        for behaviour, i in self.behaviours.items():
            match = events.event == behaviour.event
            for condition in behaviour.filters:
                match = match & _property_predicate(events, condition, self.source.engine)
            if behaviour.within_days is not None:
                match = match & (events.timestamp >= self._window_start(behaviour.within_days))
            measure = behaviour.measure
            if measure == "count":
                aggregates[f"_e{i}"] = events.count(where=match)
                continue
            if measure in TIME_MEASURES:
                stamp = events.timestamp
                aggregates[f"_e{i}_c"] = events.count(where=match)
                aggregates[f"_e{i}"] = (
                    stamp.min(where=match) if measure == "first_time" else stamp.max(where=match)
                )
                continue
            assert behaviour.prop is not None
            number = _property_number(events, behaviour.prop, self.source.engine)
            aggregates[f"_e{i}_c"] = number.count(where=match)
            reduce = {"sum": number.sum, "avg": number.mean, "max": number.max, "min": number.min}
            aggregates[f"_e{i}"] = reduce[measure](where=match)
        pivot = events.group_by(_e_key=events.uid.cast(dt.string)).aggregate(**aggregates)
        return pivot, "_e_key"

    # --- conditions ---------------------------------------------------------------------------

    def predicate(self, rule: Rule) -> ir.BooleanValue:
        if isinstance(rule, AllOf):
            return ibis.and_(*[self.predicate(r) for r in rule.rules])
        if isinstance(rule, AnyOf):
            return ibis.or_(*[self.predicate(r) for r in rule.rules])
        if isinstance(rule, Not):
            return ~self.predicate(rule.rule)
        if isinstance(rule, TraitCondition):
            return self._trait(rule)
        if isinstance(rule, TagCondition):
            return self._tag(rule)
        if isinstance(rule, EventCondition):
            return self._event(rule)
        count = self.table[f"_s{self.segments.index(rule.segment)}"]
        return (count > 0).fill_null(False)

    def _trait(self, c: TraitCondition) -> ir.BooleanValue:
        t = self.table
        kind = c.kind
        if kind == "json":
            field = JsonField(t["_u_traits"], c.field[len(TRAITS_PREFIX) :], self.source.engine)
            return _apply(c.op, c.value, lambda op, v: _json_positive(field, op, v))
        if kind == "text":
            column: ir.Value = t[USER_ID] if c.field == USER_ID else t[f"_u_{c.field}"]
            return _apply(c.op, c.value, lambda op, v: _scalar_positive(column, op, v, _text))
        if kind == "date":
            column = t[f"_u_{c.field}"]
            return _apply(c.op, c.value, lambda op, v: _scalar_positive(column, op, v, _date))
        if kind == "instant":
            day = local_date(self.source, t[f"_u_{c.field}"])
            return _apply(c.op, c.value, lambda op, v: self._day_positive(day, op, v))
        birthday = t["_u_birthday"]
        return _apply(c.op, c.value, lambda op, v: self._age_positive(birthday, op, v))

    def _tag(self, c: TagCondition) -> ir.BooleanValue:
        i = self.tags.index(c.tag)
        t = self.table
        present = t[f"_t{i}_c"].fill_null(0) > 0
        text = ibis.ifelse(present, t[f"_t{i}_v"], ibis.null(dt.string))
        number = ibis.ifelse(present, t[f"_t{i}_n"], ibis.null(dt.float64))

        def positive(op: Op, value: Value) -> ir.BooleanValue:
            if op == "is_set":
                return present
            if numeric_value(value):
                return _scalar_positive(number, op, value, _float)
            return _scalar_positive(text, op, value, _tag_text)

        return _apply(c.op, c.value, positive)

    def _event(self, c: EventCondition) -> ir.BooleanValue:
        behaviour = Behaviour.of(c)
        i = self.behaviours[behaviour]
        t = self.table
        op, value = c.comparison()
        measure = behaviour.measure
        if measure == "count":
            count = t[f"_e{i}"].fill_null(0)
            return _apply(op, value, lambda o, v: _scalar_positive(count, o, v, _int))
        found = t[f"_e{i}_c"].fill_null(0) > 0
        if measure in TIME_MEASURES:
            day = ibis.ifelse(found, local_date(self.source, t[f"_e{i}"]), ibis.null(dt.date))
            return _apply(op, value, lambda o, v: self._day_positive(day, o, v, found))
        if measure == "sum":
            total = ibis.ifelse(found, t[f"_e{i}"].cast(dt.float64), 0.0)
            return _apply(op, value, lambda o, v: _scalar_positive(total, o, v, _float))
        amount = ibis.ifelse(found, t[f"_e{i}"].cast(dt.float64), ibis.null(dt.float64))

        def positive(o: Op, v: Value) -> ir.BooleanValue:
            if o == "is_set":
                return found
            return _scalar_positive(amount, o, v, _float)

        return _apply(op, value, positive)

    def _day_positive(
        self, day: ir.DateValue, op: Op, value: Value, found: ir.BooleanValue | None = None
    ) -> ir.BooleanValue:
        """A local day compared with ISO dates, or with whole days ago (counted back from
        today: more days ago is an earlier day, so the comparison turns round)."""
        if op == "is_set":
            return found if found is not None else day.notnull()
        if not days_ago_value(value):
            return _scalar_positive(day, op, value, _date)
        ago = self.today
        # Days ago count back from today: a day after it (a signup after the day a rule is
        # evaluated on) is no number of days ago.
        not_after = (day <= ibis.literal(ago, type=dt.date)).fill_null(False)
        if op == "between":
            assert isinstance(value, tuple)
            lo, hi = value
            bounds = (
                None if hi is None else ago - timedelta(days=int(hi)),
                None if lo is None else ago - timedelta(days=int(lo)),
            )
            return _range(day, bounds[0], bounds[1], dt.date) & not_after
        if op == "in":
            days = [ago - timedelta(days=int(v)) for v in list_items(value)]
            return day.isin([ibis.literal(d, type=dt.date) for d in days]).fill_null(False)
        assert isinstance(value, int)
        target = ibis.literal(ago - timedelta(days=value), type=dt.date)
        return _compare(day, FLIPPED.get(op, op), target) & not_after

    def _age_positive(self, birthday: ir.DateValue, op: Op, value: Value) -> ir.BooleanValue:
        """Age in whole years on `today`, as a range of birthdays: age >= n <=> born on or
        before today n years ago; age <= n <=> born after today n+1 years ago."""
        if op == "is_set":
            return birthday.notnull()

        def at_least(n: int) -> ir.BooleanValue:
            return birthday <= ibis.literal(years_before(self.today, n), type=dt.date)

        def at_most(n: int) -> ir.BooleanValue:
            return birthday > ibis.literal(years_before(self.today, n + 1), type=dt.date)

        if op == "between":
            assert isinstance(value, tuple)
            lo, hi = value
            parts = []
            if lo is not None:
                parts.append(at_least(int(lo)))
            if hi is not None:
                parts.append(at_most(int(hi)))
            return ibis.and_(*parts).fill_null(False)
        if op == "in":
            matches = [at_least(int(n)) & at_most(int(n)) for n in list_items(value)]
            return ibis.or_(*matches).fill_null(False)
        assert isinstance(value, int)
        n = value
        checks = {
            "=": at_least(n) & at_most(n),
            ">=": at_least(n),
            ">": at_least(n + 1),
            "<=": at_most(n),
            "<": at_most(n - 1) if n > 0 else ibis.literal(False),
        }
        return checks[op].fill_null(False)


# --- comparisons --------------------------------------------------------------------------


def _apply(
    op: Op, value: Value, positive: Callable[[Op, Value], ir.BooleanValue]
) -> ir.BooleanValue:
    """`op` as its positive form, never null, negated for !=, not_in and not_set."""
    base = POSITIVE.get(op, op)
    result = positive(base, value).fill_null(False)
    return ~result if op in NEGATIVE_OPS else result


def list_items(value: Value) -> tuple[Scalar, ...]:
    """The list of an `in` (the parser lets no null into one)."""
    assert isinstance(value, tuple)
    return tuple(v for v in value if v is not None)


def _text(value: Scalar) -> ir.Value:
    return ibis.literal(str(value), type=dt.string)


def tag_text(value: Scalar) -> str:
    """The text a tag's value is compared with: booleans as 'true'/'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tag_text(value: Scalar) -> ir.Value:
    return ibis.literal(tag_text(value), type=dt.string)


def _date(value: Scalar) -> ir.Value:
    assert isinstance(value, str)
    return ibis.literal(parse_iso_date(value), type=dt.date)


def _float(value: Scalar) -> ir.Value:
    return ibis.literal(float(value), type=dt.float64)


def _int(value: Scalar) -> ir.Value:
    return ibis.literal(int(value), type=dt.int64)


def numeric_value(value: Value) -> bool:
    """A tag compares as a number when the condition's value holds a number."""
    items = value if isinstance(value, tuple) else (value,)
    return any(isinstance(v, int | float) and not isinstance(v, bool) for v in items)


def days_ago_value(value: Value) -> bool:
    """A day compares with days ago (whole numbers) rather than ISO dates."""
    items = value if isinstance(value, tuple) else (value,)
    return any(isinstance(v, int) and not isinstance(v, bool) for v in items)


def _compare(column: ir.Value, op: str, literal: ir.Value) -> ir.BooleanValue:
    compared: ir.BooleanValue
    if op == "=":
        compared = column == literal
    elif op == "<":
        compared = column < literal
    elif op == "<=":
        compared = column <= literal
    elif op == ">":
        compared = column > literal
    else:
        compared = column >= literal
    return compared.fill_null(False)


def _range(
    column: ir.Value, lo: object | None, hi: object | None, kind: dt.DataType
) -> ir.BooleanValue:
    parts = []
    if lo is not None:
        parts.append(column >= ibis.literal(lo, type=kind))
    if hi is not None:
        parts.append(column <= ibis.literal(hi, type=kind))
    return ibis.and_(*parts).fill_null(False)


def _scalar_positive(
    column: ir.Value, op: Op, value: Value, literal: Callable[[Scalar], ir.Value]
) -> ir.BooleanValue:
    """A column compared with literals made by `literal` (positive ops only)."""
    if op == "is_set":
        return column.notnull()
    if op == "in":
        return column.isin([literal(v) for v in list_items(value)]).fill_null(False)
    if op == "between":
        assert isinstance(value, tuple)
        lo, hi = value
        parts = []
        if lo is not None:
            parts.append(column >= literal(lo))
        if hi is not None:
            parts.append(column <= literal(hi))
        return ibis.and_(*parts).fill_null(False)
    assert value is not None and not isinstance(value, tuple)
    return _compare(column, op, literal(value))


def _json_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_positive(field: JsonField, op: Op, value: Value) -> ir.BooleanValue:
    """A JSON value (custom trait or event property): equality as every filter compares (a
    string, or a number or boolean equal to it), order on JSON numbers."""
    if op == "is_set":
        return field.is_set().fill_null(False)
    if op == "in":
        return ibis.or_(*[json_equals(field, _json_text(v)) for v in list_items(value)])
    if op == "=":
        assert value is not None and not isinstance(value, tuple)
        return json_equals(field, _json_text(value))
    return _scalar_positive(field.number(), op, value, _float)


def _property_number(events: ir.Table, prop: str, engine: str) -> ir.FloatingValue:
    """A property as a number: `revenue` from the events' revenue column (parsed at import,
    whether the JSON had a number or a string), others from JSON numbers only."""
    if prop == "revenue":
        return events.revenue.cast(dt.float64)
    return JsonField(events.properties, prop, engine).number()


def _property_predicate(
    events: ir.Table, condition: PropertyCondition, engine: str
) -> ir.BooleanValue:
    if condition.property == "revenue":
        revenue = events.revenue.cast(dt.float64)

        def positive(op: Op, value: Value) -> ir.BooleanValue:
            if op == "is_set":
                return revenue.notnull()
            if op in ("=", "in"):
                items = value if isinstance(value, tuple) else (value,)
                numbers = [_as_float(v) for v in items]
                wanted = [ibis.literal(n, type=dt.float64) for n in numbers if n is not None]
                if not wanted:
                    return ibis.literal(False)
                return revenue.isin(wanted).fill_null(False)
            return _scalar_positive(revenue, op, value, _float)

        return _apply(condition.op, condition.value, positive)
    field = JsonField(events.properties, condition.property, engine)
    return _apply(condition.op, condition.value, lambda op, v: _json_positive(field, op, v))


def _as_float(value: Scalar | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
