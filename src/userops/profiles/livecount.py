"""Live counts: an audience rule evaluated on the population in memory (`profiles.population`),
the fast path of segment previews on a DuckDB warehouse.

Each leaf condition becomes a boolean array over the population's positions, kept in a small
cache keyed by the condition, the local day and the state of what it reads, so that an operator
editing one condition of a rule re-evaluates that condition only; `all`, `any` and `not` are
then `&`, `|` and `~` of arrays, and the count and the sample (the first ids) are read off the
result. Text compares once per distinct value (dictionary codes), dates and numbers as
integers and floats, behaviour as per-user counts and first/last days on the event index.

Every comparison follows the compiled rule (`conditions._Compiler`) operator by operator: a
missing value makes `=`, `in`, `<`... false and `!=`, `not_in`, `not_set` (their negations)
true; days ago count back from `today`; ages are ranges of birthdays. Custom traits (JSON) and
segment membership run the compiled condition itself over the population
(`conditions.positions_holding`), and behaviour with property filters or a property measure
the compiled aggregate; their results are cached the same way. No value of a rule reaches SQL
text: the comparisons run in NumPy/Arrow, the compiled parts take values as Ibis literals.

The compiled expressions stay the reference: tests/profiles/test_livecount.py compares both on
generated worlds, and `eventindex.portable()` turns this path off (then `select` answers None).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from userops.analytics.base import Source
from userops.analytics.eventindex import EventIndex, day_number, event_index
from userops.domain.audience import (
    NEGATIVE_OPS,
    TIME_MEASURES,
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    Not,
    Op,
    Rule,
    Scalar,
    SegmentCondition,
    TagCondition,
    TraitCondition,
    Value,
    conditions,
    parse_iso_date,
    rule_to_json,
    years_before,
)
from userops.profiles.conditions import (
    FLIPPED,
    POSITION,
    POSITIVE,
    days_ago_value,
    list_items,
    numeric_value,
    positions_holding,
    tag_text,
)
from userops.profiles.population import (
    Bits,
    Coded,
    Mask,
    Numbers,
    Ordered,
    Population,
    frequent,
    ints,
    measure_key,
    population,
)
from userops.warehouse.connection import Warehouse
from userops.warehouse.stamps import states


class Selection:
    """The users a rule selects, as a bit per position of the population."""

    def __init__(self, population: Population, bits: Bits) -> None:
        self.population = population
        size = population.size
        self.bits = bits.copy()
        if size % 8:  # `not` set the padding bits after the last user: clear them
            self.bits[-1] &= np.uint8((0xFF << (8 - size % 8)) & 0xFF)

    @property
    def count(self) -> int:
        return int(np.bitwise_count(self.bits).sum())

    def first(self, n: int) -> tuple[str, ...]:
        """The first `n` selected ids, sorted by id."""
        if n <= 0:
            return ()
        busy = np.flatnonzero(self.bits)[:n]  # n bytes with a user each hold the first n
        bits = np.unpackbits(self.bits[busy]).reshape(-1, 8).astype(bool)
        at = (busy[:, None] * 8 + np.arange(8))[bits][:n]
        return tuple(str(v) for v in self.population.ids.take(pa.array(at)).to_pylist())

    def ids(self) -> pa.Array:
        """Every selected id, sorted."""
        mask = np.unpackbits(self.bits, count=self.population.size).astype(bool)
        return self.population.ids.filter(pa.array(mask))


def select(source: Source, rule: Rule, *, today: date, warm_only: bool = False) -> Selection | None:
    """The users `rule` holds for on local day `today`, or None where this path does not run
    (another engine, an unbound source, inside `eventindex.portable()`; with `warm_only`, when
    the event index or the population would have to be built first: a one-off evaluation, as
    saving a segment from the command line, costs less on the compiled rule than a build)."""
    index = event_index(source, build_missing=not warm_only)
    if index is None or not isinstance(source, Warehouse):
        return None
    leaves = list(conditions(rule))
    kinds = {type(c) for c in leaves}
    reads = {TagCondition: "tag_values", SegmentCondition: "segment_members"}
    current = states(source, ["users", *[t for k, t in reads.items() if k in kinds]])
    people = population(source, index, current["users"], build_missing=not warm_only)
    if people is None:
        return None
    evaluator = _Evaluator(source, index, people, today, current)
    if evaluator.costly_measures(leaves) > MAX_COSTLY_MEASURES:
        return None  # the compiled rule measures them all in one scan of the events
    return Selection(people, evaluator.bits(rule))


def _packed(result: Result) -> Bits:
    if result.dtype == np.uint8:
        return result.view(np.uint8)
    return np.packbits(result)


def condition_key(condition: Condition) -> str:
    """A condition as the JSON it came from: equal keys, equal conditions (the dataclasses
    compare `True == 1` and `1 == 1.0`, which a tag or a property reads differently)."""
    return json.dumps(rule_to_json(condition), sort_keys=True, ensure_ascii=False)


class _Evaluator:
    def __init__(
        self,
        source: Warehouse,
        index: EventIndex,
        people: Population,
        today: date,
        current: dict[str, Any],
    ):
        self.source = source
        self.index = index
        self.people = people
        self.today = today
        self.tags = current.get("tag_values")
        self.segments = current.get("segment_members")

    def costly_measures(self, leaves: list[Condition]) -> int:
        """How many behaviours of `leaves` would be measured anew by a pass over many events:
        property filters or a property measure (a query each), or a name too frequent for a
        timeline."""
        new = set()
        for c in leaves:
            if not isinstance(c, EventCondition) or self.people.has_measure(c, self.today):
                continue
            with self.people.lock:
                if self._key(c) in self.people.masks:
                    continue
            if c.where or c.prop is not None or frequent(self.index, c.event):
                new.add(measure_key(c, self.today))
        return len(new)

    def _key(self, condition: Condition) -> Hashable:
        reads: Hashable = None
        if isinstance(condition, TagCondition):
            reads = self.tags
        elif isinstance(condition, SegmentCondition):
            reads = self.segments
        return (condition_key(condition), self.today, reads)

    def bits(self, rule: Rule) -> Bits:
        """`rule` over the population, packed (a new array, or a cached one: never written
        to)."""
        if isinstance(rule, AllOf | AnyOf):
            parts = [self.bits(r) for r in rule.rules]
            out = parts[0].copy()
            for part in parts[1:]:
                if isinstance(rule, AllOf):
                    out &= part
                else:
                    out |= part
            return out
        if isinstance(rule, Not):
            return ~self.bits(rule.rule)
        return self._leaf(rule)

    def _leaf(self, condition: Condition) -> Bits:
        key = self._key(condition)
        with self.people.lock:
            return self.people.masks.get(key, lambda: _packed(self._evaluate(condition)))

    def _evaluate(self, c: Condition) -> Result:
        if isinstance(c, TraitCondition) and c.kind != "json":
            return self._trait(c)
        if isinstance(c, TagCondition):
            return self._tag(c)
        if isinstance(c, EventCondition):
            return self._event(c)
        held = positions_holding(self.source, c, today=self.today, people=self.people.table)
        mask = np.zeros(self.people.size, dtype=bool)
        mask[ints(held.to_pyarrow()[POSITION])] = True
        return mask

    # --- the kinds of condition ---------------------------------------------------------------

    def _trait(self, c: TraitCondition) -> Result:
        kind = c.kind
        if kind == "text":
            text = self.people.text(self.source, c.field)
            return _apply(c.op, c.value, lambda op, v: _coded(text, op, v, str))
        if kind == "date":
            days = self.people.days(self.source, c.field)
            return _apply(c.op, c.value, lambda op, v: _ordered(days, op, v, _iso_day))
        if kind == "instant":
            days = self.people.days(self.source, c.field)
            return _apply(c.op, c.value, lambda op, v: _day(days, op, v, self.today))
        birthday = self.people.days(self.source, "birthday")
        return _apply(c.op, c.value, lambda op, v: _age(birthday, op, v, self.today))

    def _tag(self, c: TagCondition) -> Result:
        column = self.people.tag(self.source, c.tag, self.tags)

        def positive(op: Op, value: Value) -> Result:
            if op == "is_set":
                return column.present
            if numeric_value(value):
                return _ordered(column.number, op, value, float)
            return _coded(column.text, op, value, tag_text)

        return _apply(c.op, c.value, positive)

    def _event(self, c: EventCondition) -> Result:
        measured = self.people.measure(self.source, self.index, c, self.today)
        op, value = c.comparison()
        measure = c.effective_measure
        if measure == "count":  # every user has a count (0 without events)
            counts = measured.values
            return _apply(op, value, lambda o, v: _compared(counts, o, v, int))
        if measure in TIME_MEASURES:
            days = Ordered(measured.values, measured.found)
            return _apply(op, value, lambda o, v: _day(days, o, v, self.today))
        if measure == "sum":
            total = np.where(measured.found, measured.values, 0.0)
            return _apply(op, value, lambda o, v: _compared(total, o, v, float))
        amount = Ordered(measured.values, measured.found)
        return _apply(op, value, lambda o, v: _ordered(amount, o, v, float))


# --- comparisons (the compiled rule's, on arrays) ---------------------------------------------


_FEW = 16
Result = Mask | Bits  # a condition's users: a bool per user, or already packed
MAX_COSTLY_MEASURES = 4
"""A rule needing more costly behaviour measures than this (`_Evaluator.costly_measures`) runs
as the compiled rule, which measures them all in one scan of the events."""


def _apply(op: Op, value: Value, positive: Callable[[Op, Value], Result]) -> Result:
    """`op` as its positive form, negated for !=, not_in and not_set."""
    result = positive(POSITIVE.get(op, op), value)
    return ~result if op in NEGATIVE_OPS else result


def _iso_day(value: Scalar) -> int:
    assert isinstance(value, str)
    return day_number(parse_iso_date(value))


def _ordered(column: Ordered, op: Op, value: Value, literal: Callable[[Any], Any]) -> Mask:
    """Where the user has a value and it compares with the literal(s) (positive ops only)."""
    if op == "is_set":
        return column.valid
    return column.valid & _compared(column.values, op, value, literal)


def _compared(values: Numbers, op: Op, value: Value, literal: Callable[[Any], Any]) -> Mask:
    """Where the values compare with the literal(s) (positive ops but is_set)."""
    if op == "in":
        return _among(values, [literal(v) for v in list_items(value)])
    if op == "between":
        assert isinstance(value, tuple)
        lo, hi = value
        out: Mask = values >= literal(lo) if lo is not None else np.ones(len(values), dtype=bool)
        if hi is not None:
            out &= values <= literal(hi)
        return out
    assert value is not None and not isinstance(value, tuple)
    target = literal(value)
    if op == "=":
        return np.asarray(values == target)
    if op == "<":
        return np.asarray(values < target)
    if op == "<=":
        return np.asarray(values <= target)
    if op == ">":
        return np.asarray(values > target)
    return np.asarray(values >= target)


def _coded(column: Coded, op: Op, value: Value, literal: Callable[[Scalar], str]) -> Result:
    """Text compared once per distinct value, then looked up by code (-1: unset, never
    holds); for a short dictionary, the kept bits of the values that hold."""
    if op == "is_set":
        return column.codes >= 0
    words = column.dictionary
    if op == "in":
        wanted = pa.array([literal(v) for v in list_items(value)], type=pa.string())
        hits = pc.is_in(words, value_set=wanted)
    elif op == "between":
        assert isinstance(value, tuple)
        lo, hi = value
        hits = pa.array(np.ones(len(words), dtype=bool))
        if lo is not None:
            hits = pc.and_(hits, pc.greater_equal(words, literal(lo)))
        if hi is not None:
            hits = pc.and_(hits, pc.less_equal(words, literal(hi)))
    else:
        assert value is not None and not isinstance(value, tuple)
        compare = {
            "=": pc.equal,
            "<": pc.less,
            "<=": pc.less_equal,
            ">": pc.greater,
            ">=": pc.greater_equal,
        }[op]
        hits = compare(words, literal(value))
    found = np.flatnonzero(pc.fill_null(hits, False).to_numpy(zero_copy_only=False)).tolist()
    if column.short and len(found) <= _FEW:
        out = np.zeros((len(column.codes) + 7) // 8, dtype=np.uint8)
        for code in found:
            out |= column.users_with(code)
        return out
    return _among(column.codes, found)


def _among(values: Any, targets: list[Any]) -> Mask:
    """values == any of targets: a pass per target for a few (no hashing, no sort)."""
    if len(targets) > _FEW:
        return np.isin(values, targets)
    out = np.zeros(len(values), dtype=bool)
    for target in targets:
        out |= values == target
    return out


def _day(days: Ordered, op: Op, value: Value, today: date) -> Mask:
    """A local day compared with ISO dates, or with whole days ago counted back from `today`
    (more days ago is an earlier day, so the comparison turns round)."""
    if op == "is_set":
        return days.valid
    if not days_ago_value(value):
        return _ordered(days, op, value, _iso_day)
    now = day_number(today)
    not_after = days.values <= now  # a day after today is no number of days ago
    if op == "between":
        assert isinstance(value, tuple)
        lo, hi = value
        bounds = (None if hi is None else now - int(hi), None if lo is None else now - int(lo))
        return _ordered(days, "between", bounds, int) & not_after
    if op == "in":
        return _ordered(days, "in", tuple(now - int(v) for v in list_items(value)), int)
    assert isinstance(value, int)
    return _ordered(days, FLIPPED.get(op, op), now - value, int) & not_after


def _age(birthday: Ordered, op: Op, value: Value, today: date) -> Mask:
    """Age in whole years on `today`, as a range of birthdays: age >= n <=> born on or before
    today n years ago; age <= n <=> born after today n+1 years ago."""
    born, valid = birthday.values, birthday.valid
    if op == "is_set":
        return valid

    def at_least(n: int) -> Mask:
        return valid & (born <= day_number(years_before(today, n)))

    def at_most(n: int) -> Mask:
        return valid & (born > day_number(years_before(today, n + 1)))

    if op == "between":
        assert isinstance(value, tuple)
        lo, hi = value
        out = valid.copy()
        if lo is not None:
            out &= at_least(int(lo))
        if hi is not None:
            out &= at_most(int(hi))
        return out
    if op == "in":
        out = np.zeros(len(born), dtype=bool)
        for n in list_items(value):
            out |= at_least(int(n)) & at_most(int(n))
        return out
    assert isinstance(value, int)
    n = value
    if op == "=":
        return at_least(n) & at_most(n)
    if op == ">=":
        return at_least(n)
    if op == ">":
        return at_least(n + 1)
    if op == "<=":
        return at_most(n)
    return at_most(n - 1) if n > 0 else np.zeros(len(born), dtype=bool)
