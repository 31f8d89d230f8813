"""Audience rules (人群圈选规则): the typed rule tree and its JSON format, pure (no I/O).

A rule is a tree of `all` / `any` / `not` nodes over four kinds of condition (docs/segments.md
is the full reference):

    {"all": [RULE, ...]}            every one holds            {"any": [RULE, ...]}   one holds
    {"not": RULE}                   it does not hold
    {"trait": "city", "op": "=", "value": "上海"}                  a user attribute
    {"tag": "rfm_group", "op": "in", "value": ["重要价值"]}        a tag's current value
    {"event": "purchase", "within_days": 30, "op": ">=", "value": 3}    behaviour
    {"segment": "vip"}                                             membership of a segment

`parse_rule(obj)` checks everything the database would otherwise trip on (unknown fields and
operators, values of the wrong type, numbers that are not finite or too large, strings too
long, lists too long, nesting too deep, field names outside the allowlist) and raises one
`InputError` whose message starts with the path of the bad part (`rule.all[2].op: ...`).
`rule_to_json(parse_rule(obj)) == obj` for every accepted `obj`: optional keys left out stay
out. Rule tags (tags of kind "rule") wrap rules: `{"when": RULE}` (a boolean tag) or
`{"cases": [{"when": RULE, "then": "A"}, ...], "else": "C"}` (an enum tag, first case wins).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal, TypeAlias, get_args

from userops.errors import InputError

Op = Literal["=", "!=", "in", "not_in", "between", "<", "<=", ">", ">=", "is_set", "not_set"]
OPS: Final[tuple[Op, ...]] = get_args(Op)
Measure = Literal["count", "sum", "avg", "max", "min", "first_time", "last_time"]
MEASURES: Final[tuple[Measure, ...]] = get_args(Measure)
FieldKind = Literal["text", "date", "instant", "age", "json", "number", "tag"]

EQUALITY_OPS: Final = frozenset({"=", "!=", "in", "not_in"})
ORDER_OPS: Final = frozenset({"<", "<=", ">", ">=", "between"})
PRESENCE_OPS: Final = frozenset({"is_set", "not_set"})
NEGATIVE_OPS: Final = frozenset({"!=", "not_in", "not_set"})
"""Negations of `=`, `in`, `is_set`: a user without the value matches them."""

TRAIT_FIELDS: Final[Mapping[str, FieldKind]] = {
    "user_id": "text",
    "channel": "text",
    "gender": "text",
    "province": "text",
    "city": "text",
    "occupation": "text",
    "phone": "text",
    "email": "text",
    "birthday": "date",
    "created_at": "instant",
    "age": "age",
}
"""Columns of the warehouse's `users` table a rule may name (`age` is derived from birthday);
custom traits are `traits.NAME`."""
TRAITS_PREFIX: Final = "traits."
PROPERTY_MEASURES: Final = frozenset({"sum", "avg", "max", "min"})
TIME_MEASURES: Final = frozenset({"first_time", "last_time"})

# Limits: a rule is written by a person; anything past these is a mistake or an attack.
MAX_DEPTH: Final = 8
MAX_CONDITIONS: Final = 100
MAX_LIST: Final = 1000
MAX_TEXT: Final = 200
MAX_NUMBER: Final = 1e15
MAX_DAYS: Final = 36_600  # a hundred years: days ago, and the oldest first_time
MAX_WITHIN_DAYS: Final = 3660
MAX_AGE: Final = 150
MAX_CASES: Final = 50

NAME = re.compile(r"[^\W\d]\w{0,63}|\d\w{0,63}")
"""A property or custom trait name: letters (any script), digits, underscores, up to 64."""
CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
"""A tag or segment code: ASCII letters, digits, underscores and hyphens, up to 64 (codes go
into file names and URLs)."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Scalar: TypeAlias = str | int | float | bool
Bound: TypeAlias = Scalar | None
Value: TypeAlias = Scalar | tuple[Scalar, ...] | tuple[Bound, Bound] | None


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule


@dataclass(frozen=True, slots=True)
class TraitCondition:
    """A column of `users` (TRAIT_FIELDS) or a custom trait `traits.NAME`."""

    field: str
    op: Op
    value: Value = None

    @property
    def kind(self) -> FieldKind:
        return TRAIT_FIELDS.get(self.field, "json")


@dataclass(frozen=True, slots=True)
class TagCondition:
    """A tag's current value (warehouse.tag_values): numbers compare with `number`, other
    values with the text `value`."""

    tag: str
    op: Op
    value: Value = None


@dataclass(frozen=True, slots=True)
class PropertyCondition:
    """A condition on the properties of the events a behaviour condition counts."""

    property: str
    op: Op
    value: Value = None


@dataclass(frozen=True, slots=True)
class EventCondition:
    """Behaviour: a measure of the user's `event` events (passing `where`) on the last
    `within_days` local days up to today (all history when None), compared by `op`/`value`.

    Without `op`, the user did the event at least once. `measure` None means count and
    `where` None means no filter; both are kept apart from explicit values so that a rule's
    JSON round-trips exactly.
    """

    event: str
    where: tuple[PropertyCondition, ...] | None = None
    measure: Measure | None = None
    prop: str | None = None  # JSON "property"
    op: Op | None = None
    value: Value = None
    within_days: int | None = None

    @property
    def effective_measure(self) -> Measure:
        return self.measure or "count"

    @property
    def filters(self) -> tuple[PropertyCondition, ...]:
        return self.where or ()

    def comparison(self) -> tuple[Op, Value]:
        """The (op, value) applied to the measure: `>= 1` when none was given."""
        if self.op is None:
            return ">=", 1
        return self.op, self.value


@dataclass(frozen=True, slots=True)
class SegmentCondition:
    """Membership of another segment, as stored in warehouse.segment_members."""

    segment: str


Condition: TypeAlias = TraitCondition | TagCondition | EventCondition | SegmentCondition
Rule: TypeAlias = AllOf | AnyOf | Not | Condition


@dataclass(frozen=True, slots=True)
class BooleanRuleTag:
    """A boolean rule tag: the users `when` holds for get the value 'true' (others no row)."""

    when: Rule


@dataclass(frozen=True, slots=True)
class EnumCase:
    when: Rule
    then: str


@dataclass(frozen=True, slots=True)
class EnumRuleTag:
    """An enum rule tag: each user gets the `then` of the first case that holds, else
    `otherwise` (JSON `else`); without `else`, users matching no case get no row."""

    cases: tuple[EnumCase, ...]
    otherwise: str | None = None


RuleTag: TypeAlias = BooleanRuleTag | EnumRuleTag

_NODE_KEYS: Final = ("all", "any", "not", "trait", "tag", "event", "segment")
_ALLOWED_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "all": frozenset({"all"}),
    "any": frozenset({"any"}),
    "not": frozenset({"not"}),
    "trait": frozenset({"trait", "op", "value"}),
    "tag": frozenset({"tag", "op", "value"}),
    "event": frozenset({"event", "where", "measure", "property", "op", "value", "within_days"}),
    "segment": frozenset({"segment"}),
}


# --- parsing ----------------------------------------------------------------------------------


def parse_rule(obj: Any, *, path: str = "rule") -> Rule:
    """The rule of a JSON document; InputError names the first bad part by its path."""
    return _Parser().rule(obj, path, 1)


def parse_rule_tag(obj: Any, *, path: str = "definition") -> RuleTag:
    """A rule tag's definition: `{"when": RULE}` or `{"cases": [...], "else": "C"}`."""
    parser = _Parser()
    doc = _object(obj, path, "a rule tag definition")
    if "when" in doc:
        _only(doc, {"when"}, path)
        return BooleanRuleTag(parser.rule(doc["when"], f"{path}.when", 1))
    if "cases" not in doc:
        raise InputError(
            f'{path}: a rule tag is {{"when": RULE}} (boolean) or '
            f'{{"cases": [{{"when": RULE, "then": "A"}}, ...], "else": "B"}} (enum)'
        )
    _only(doc, {"cases", "else"}, path)
    cases = doc["cases"]
    if not isinstance(cases, list) or not cases:
        raise InputError(f"{path}.cases: give a non-empty list of cases")
    if len(cases) > MAX_CASES:
        raise InputError(f"{path}.cases: {len(cases)} cases; at most {MAX_CASES}")
    parsed = []
    for i, case in enumerate(cases):
        where = f"{path}.cases[{i}]"
        body = _object(case, where, "a case")
        _only(body, {"when", "then"}, where)
        for key in ("when", "then"):
            if key not in body:
                raise InputError(f"{where}: missing '{key}'")
        then = _text(body["then"], f"{where}.then")
        parsed.append(EnumCase(parser.rule(body["when"], f"{where}.when", 1), then))
    otherwise = _text(doc["else"], f"{path}.else") if "else" in doc else None
    return EnumRuleTag(tuple(parsed), otherwise)


class _Parser:
    """One parse: counts conditions across the whole document."""

    def __init__(self) -> None:
        self.conditions = 0

    def rule(self, obj: Any, path: str, depth: int) -> Rule:
        if depth > MAX_DEPTH:
            raise InputError(f"{path}: rules nest at most {MAX_DEPTH} levels deep")
        doc = _object(obj, path, "a condition")
        found = [k for k in _NODE_KEYS if k in doc]
        if not found:
            keys = ", ".join(repr(str(k)[:40]) for k in list(doc)[:5]) or "none"
            raise InputError(
                f"{path}: a condition needs one of {', '.join(_NODE_KEYS)} (has {keys})"
            )
        if len(found) > 1:
            raise InputError(f"{path}: has both '{found[0]}' and '{found[1]}'; nest them in all")
        node = found[0]
        _only(doc, _ALLOWED_KEYS[node], path)
        if node in ("all", "any"):
            items = doc[node]
            if not isinstance(items, list) or not items:
                raise InputError(f"{path}.{node}: give a non-empty list of conditions")
            if len(items) > MAX_CONDITIONS:
                raise InputError(
                    f"{path}.{node}: {len(items)} conditions; at most {MAX_CONDITIONS}"
                )
            rules = tuple(
                self.rule(item, f"{path}.{node}[{i}]", depth + 1) for i, item in enumerate(items)
            )
            return AllOf(rules) if node == "all" else AnyOf(rules)
        if node == "not":
            return Not(self.rule(doc["not"], f"{path}.not", depth + 1))
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise InputError(f"{path}: more than {MAX_CONDITIONS} conditions in one rule")
        if node == "trait":
            return _trait(doc, path)
        if node == "tag":
            return _tag(doc, path)
        if node == "event":
            return _event(doc, path)
        return SegmentCondition(_code(doc["segment"], f"{path}.segment", "segment"))


def _object(obj: Any, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputError(f"{path}: {what} is a JSON object, not {_describe(obj)}")
    for key in obj:
        if not isinstance(key, str):
            raise InputError(f"{path}: keys are strings, not {_describe(key)}")
    return obj


def _only(doc: Mapping[str, Any], allowed: set[str] | frozenset[str], path: str) -> None:
    for key in doc:
        if key not in allowed:
            shown = key if len(key) <= 40 else key[:40] + "..."
            raise InputError(
                f"{path}: unknown key {shown!r}; expected {', '.join(sorted(allowed))}"
            )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{path}: expected a string, got {_describe(value)}")
    if not value:
        raise InputError(f"{path}: the string is empty")
    if len(value) > MAX_TEXT:
        raise InputError(f"{path}: {len(value)} characters; at most {MAX_TEXT}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{path}: contains a control character")
    return value


def _code(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{path}: a {what} code is a string, not {_describe(value)}")
    if not CODE.fullmatch(value):
        raise InputError(
            f"{path}: {_shown(value)} is not a {what} code "
            "(ASCII letters, digits, _ and -, up to 64)"
        )
    return value


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def _op(doc: Mapping[str, Any], path: str) -> Op:
    if "op" not in doc:
        raise InputError(f"{path}: missing 'op'; expected one of {', '.join(OPS)}")
    op = doc["op"]
    if not isinstance(op, str) or op not in OPS:
        shown = _shown(op) if isinstance(op, str) else _describe(op)
        raise InputError(f"{path}.op: unknown operator {shown}; expected one of {', '.join(OPS)}")
    return op


# Value kinds: what a value may be, per field kind. `_value` gives it as stored (lists and
# ranges as tuples), raising with the path.
ValueKind = Literal[
    "text", "date", "days", "years", "count", "number", "scalar", "ordered", "boolean"
]


def _value(doc: Mapping[str, Any], op: Op, path: str, kinds: tuple[ValueKind, ...]) -> Value:
    """The `value` for `op`, each item of one of `kinds` (a list and a range share one kind)."""
    if op in PRESENCE_OPS:
        if "value" in doc:
            raise InputError(f"{path}.value: '{op}' takes no value")
        return None
    if "value" not in doc:
        raise InputError(f"{path}: missing 'value' for '{op}'")
    raw = doc["value"]
    where = f"{path}.value"
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw:
            raise InputError(f"{where}: '{op}' needs a non-empty list, got {_describe(raw)}")
        if len(raw) > MAX_LIST:
            raise InputError(f"{where}: {len(raw)} values; at most {MAX_LIST}")
        items = [_item(v, f"{where}[{i}]", kinds) for i, v in enumerate(raw)]
        _same_kind(items, where)
        return tuple(v for v, _ in items)
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise InputError(f"{where}: 'between' needs [low, high] (either may be null)")
        lo, hi = (
            None if v is None else _item(v, f"{where}[{i}]", kinds) for i, v in enumerate(raw)
        )
        if lo is None and hi is None:
            raise InputError(f"{where}: 'between' needs at least one of low and high")
        if lo is not None and hi is not None:
            _same_kind([lo, hi], where)
            if lo[0] > hi[0]:  # type: ignore[operator]
                raise InputError(f"{where}: low {lo[0]!r} is above high {hi[0]!r}")
        return (None if lo is None else lo[0], None if hi is None else hi[0])
    if isinstance(raw, list):
        raise InputError(f"{where}: '{op}' takes one value; use 'in' for a list")
    value, _ = _item(raw, where, kinds)
    return value


def _same_kind(items: Sequence[tuple[Scalar, ValueKind]], path: str) -> None:
    kinds = {k for _, k in items}
    if len(kinds) > 1:
        raise InputError(f"{path}: mixes {' and '.join(sorted(kinds))} values")


def _item(value: Any, path: str, kinds: tuple[ValueKind, ...]) -> tuple[Scalar, ValueKind]:
    """One value checked against the kinds allowed, with the kind it was taken as."""
    for kind in kinds:
        checked = _as_kind(value, kind)
        if checked is not None:
            if kind in ("scalar", "ordered"):  # the kind it compares as
                return checked, "boolean" if isinstance(checked, bool) else (
                    "number" if _is_number(checked) else "text"
                )
            return checked, kind
    if isinstance(value, str):
        _text(value, path)  # a bad string gets its own reason (too long, control character)
        raise InputError(f"{path}: expected {_kinds_text(kinds)}, got {_shown(value)}")
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{path}: numbers must be finite")
        if abs(value) > MAX_NUMBER:
            raise InputError(
                f"{path}: a number beyond ±{MAX_NUMBER:.0e}; expected {_kinds_text(kinds)}"
            )
        raise InputError(f"{path}: expected {_kinds_text(kinds)}, got {value!r}")
    raise InputError(f"{path}: expected {_kinds_text(kinds)}, got {_describe(value)}")


_KIND_TEXT: Final[Mapping[str, str]] = {
    "text": "a string",
    "date": "an ISO date (YYYY-MM-DD)",
    "days": f"a whole number of days ago (0 to {MAX_DAYS})",
    "years": f"a whole number of years (0 to {MAX_AGE})",
    "count": "a whole number of 0 or more",
    "number": f"a number (at most {MAX_NUMBER:.0e} either side of 0)",
    "scalar": "a string, number or boolean",
    "ordered": "a number or a string",
    "boolean": "a boolean",
}


def _kinds_text(kinds: tuple[ValueKind, ...]) -> str:
    return " or ".join(_KIND_TEXT[k] for k in kinds)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    if not _is_number(value):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_NUMBER
    return math.isfinite(value) and abs(value) <= MAX_NUMBER


def _as_kind(value: Any, kind: ValueKind) -> Scalar | None:
    """`value` when it is of `kind`, else None."""
    if kind == "text":
        return value if isinstance(value, str) and _valid_text(value) else None
    if kind == "date":
        return value if isinstance(value, str) and _iso_date(value) is not None else None
    if kind == "days":
        return value if _whole(value, 0, MAX_DAYS) else None
    if kind == "years":
        return value if _whole(value, 0, MAX_AGE) else None
    if kind == "count":
        return value if _whole(value, 0, int(MAX_NUMBER)) else None
    if kind == "number":
        return value if _finite(value) else None
    if kind == "scalar":
        if isinstance(value, bool):
            return value
        return _as_kind(value, "number") if _is_number(value) else _as_kind(value, "text")
    # ordered: a number, or a string compared as text (ISO dates sort as dates)
    return _as_kind(value, "number") if _is_number(value) else _as_kind(value, "text")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _valid_text(value: str) -> bool:
    return 0 < len(value) <= MAX_TEXT and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _iso_date(value: str) -> date | None:
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _kinds_for(kind: FieldKind, op: Op, field: str, path: str) -> tuple[ValueKind, ...]:
    """The value kinds a field of `kind` takes with `op`; InputError when `op` does not fit."""
    ordering = op in ORDER_OPS
    if kind == "text":
        if ordering:
            raise InputError(
                f"{path}.op: {field} is text; compare it with =, !=, in, not_in, is_set or not_set"
            )
        return ("text",)
    if kind == "date":
        return ("date",)
    if kind == "instant":
        return ("date", "days")
    if kind == "age":
        return ("years",)
    if kind == "json":
        return ("number",) if ordering else ("scalar",)
    if kind == "tag":
        return ("ordered",) if ordering else ("scalar",)
    return ("number",)


def _trait(doc: Mapping[str, Any], path: str) -> TraitCondition:
    field = doc["trait"]
    where = f"{path}.trait"
    if not isinstance(field, str):
        raise InputError(f"{where}: a trait name is a string, not {_describe(field)}")
    if field.startswith(TRAITS_PREFIX):
        name = field[len(TRAITS_PREFIX) :]
        if not NAME.fullmatch(name):
            raise InputError(
                f"{where}: {_shown(field)}: a custom trait is traits.NAME, NAME letters, digits "
                "and underscores (up to 64)"
            )
        kind: FieldKind = "json"
    elif field in TRAIT_FIELDS:
        kind = TRAIT_FIELDS[field]
    else:
        hint = ""
        if field.startswith("trait.") and NAME.fullmatch(field[6:]):
            hint = f" (did you mean traits.{field[6:]}?)"
        raise InputError(
            f"{where}: unknown trait {_shown(field)}{hint}; expected one of "
            f"{', '.join(TRAIT_FIELDS)} or traits.NAME"
        )
    op = _op(doc, path)
    value = _value(doc, op, path, _kinds_for(kind, op, field, path))
    return TraitCondition(field, op, value)


def _tag(doc: Mapping[str, Any], path: str) -> TagCondition:
    code = _code(doc["tag"], f"{path}.tag", "tag")
    op = _op(doc, path)
    return TagCondition(code, op, _value(doc, op, path, _kinds_for("tag", op, code, path)))


def _property_condition(obj: Any, path: str) -> PropertyCondition:
    doc = _object(obj, path, "a property condition")
    _only(doc, {"property", "op", "value"}, path)
    if "property" not in doc:
        raise InputError(f"{path}: missing 'property'")
    name = _property_name(doc["property"], f"{path}.property")
    op = _op(doc, path)
    return PropertyCondition(name, op, _value(doc, op, path, _kinds_for("json", op, name, path)))


def _property_name(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{path}: a property name is a string, not {_describe(value)}")
    if not NAME.fullmatch(value):
        raise InputError(
            f"{path}: {_shown(value)} is not a property name (letters, digits and underscores, "
            "up to 64)"
        )
    return value


def _event(doc: Mapping[str, Any], path: str) -> EventCondition:
    event = _text(doc["event"], f"{path}.event")
    where: tuple[PropertyCondition, ...] | None = None
    if "where" in doc:
        raw = doc["where"]
        if not isinstance(raw, list):
            raise InputError(f"{path}.where: a list of property conditions, not {_describe(raw)}")
        if len(raw) > MAX_CONDITIONS:
            raise InputError(f"{path}.where: {len(raw)} conditions; at most {MAX_CONDITIONS}")
        where = tuple(_property_condition(c, f"{path}.where[{i}]") for i, c in enumerate(raw))
    measure: Measure | None = None
    if "measure" in doc:
        raw_measure = doc["measure"]
        if not isinstance(raw_measure, str) or raw_measure not in MEASURES:
            shown = _shown(raw_measure) if isinstance(raw_measure, str) else "that"
            raise InputError(
                f"{path}.measure: unknown measure {shown}; expected one of {', '.join(MEASURES)}"
            )
        measure = raw_measure
    effective = measure or "count"
    prop: str | None = None
    if effective in PROPERTY_MEASURES:
        if "property" not in doc:
            raise InputError(f"{path}: measure '{effective}' needs 'property' (e.g. revenue)")
        prop = _property_name(doc["property"], f"{path}.property")
    elif "property" in doc:
        raise InputError(f"{path}.property: only sum, avg, max and min take a property")
    within: int | None = None
    if "within_days" in doc:
        raw_days = doc["within_days"]
        if not _whole(raw_days, 1, MAX_WITHIN_DAYS):
            raise InputError(
                f"{path}.within_days: a whole number of days from 1 to {MAX_WITHIN_DAYS}"
            )
        within = raw_days
    if "op" not in doc:
        if "value" in doc:
            raise InputError(f"{path}: 'value' needs an 'op'")
        if effective != "count":
            raise InputError(f"{path}: measure '{effective}' needs 'op' and 'value'")
        return EventCondition(event, where, measure, prop, None, None, within)
    op = _op(doc, path)
    if op in PRESENCE_OPS and effective in ("count", "sum"):
        raise InputError(
            f"{path}.op: a {effective} is always set (0 without events); compare it with a number"
        )
    kinds: tuple[ValueKind, ...]
    if effective == "count":
        kinds = ("count",)
    elif effective in TIME_MEASURES:
        kinds = ("date", "days")
    else:
        kinds = ("number",)
    return EventCondition(event, where, measure, prop, op, _value(doc, op, path, kinds), within)


# --- back to JSON -----------------------------------------------------------------------------


def _value_json(value: Value) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _comparison_json(op: Op, value: Value) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op}
    if op not in PRESENCE_OPS:
        out["value"] = _value_json(value)
    return out


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """The JSON document of a rule (`parse_rule(rule_to_json(r)) == r`)."""
    if isinstance(rule, AllOf):
        return {"all": [rule_to_json(r) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_json(r) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": rule_to_json(rule.rule)}
    if isinstance(rule, TraitCondition):
        return {"trait": rule.field, **_comparison_json(rule.op, rule.value)}
    if isinstance(rule, TagCondition):
        return {"tag": rule.tag, **_comparison_json(rule.op, rule.value)}
    if isinstance(rule, SegmentCondition):
        return {"segment": rule.segment}
    out: dict[str, Any] = {"event": rule.event}
    if rule.where is not None:
        out["where"] = [
            {"property": c.property, **_comparison_json(c.op, c.value)} for c in rule.where
        ]
    if rule.measure is not None:
        out["measure"] = rule.measure
    if rule.prop is not None:
        out["property"] = rule.prop
    if rule.op is not None:
        out.update(_comparison_json(rule.op, rule.value))
    if rule.within_days is not None:
        out["within_days"] = rule.within_days
    return out


def rule_tag_to_json(tag: RuleTag) -> dict[str, Any]:
    if isinstance(tag, BooleanRuleTag):
        return {"when": rule_to_json(tag.when)}
    out: dict[str, Any] = {
        "cases": [{"when": rule_to_json(c.when), "then": c.then} for c in tag.cases]
    }
    if tag.otherwise is not None:
        out["else"] = tag.otherwise
    return out


# --- walking ----------------------------------------------------------------------------------


def conditions(rule: Rule) -> Iterator[Condition]:
    """Every leaf condition of `rule`, left to right."""
    if isinstance(rule, AllOf | AnyOf):
        for child in rule.rules:
            yield from conditions(child)
    elif isinstance(rule, Not):
        yield from conditions(rule.rule)
    else:
        yield rule


def located_conditions(rule: Rule, path: str = "rule") -> Iterator[tuple[str, Condition]]:
    """Every leaf condition with its path in the JSON (`rule.all[1].any[0]`), as errors name
    them."""
    if isinstance(rule, AllOf | AnyOf):
        node = "all" if isinstance(rule, AllOf) else "any"
        for i, child in enumerate(rule.rules):
            yield from located_conditions(child, f"{path}.{node}[{i}]")
    elif isinstance(rule, Not):
        yield from located_conditions(rule.rule, f"{path}.not")
    else:
        yield path, rule


def tag_rules(tag: RuleTag) -> tuple[Rule, ...]:
    if isinstance(tag, BooleanRuleTag):
        return (tag.when,)
    return tuple(c.when for c in tag.cases)


def located_tag_rules(tag: RuleTag, path: str = "definition") -> dict[str, Rule]:
    """A rule tag's rules by their paths in its definition, as errors name them."""
    if isinstance(tag, BooleanRuleTag):
        return {f"{path}.when": tag.when}
    return {f"{path}.cases[{i}].when": c.when for i, c in enumerate(tag.cases)}


CONTACT_FIELDS: Final = frozenset({"phone", "email"})
"""Traits shown masked to roles below admin (the user 360); a rule comparing their values would
reveal them one count at a time, so only those roles may write one."""


def contact_comparison(rules: Mapping[str, Rule]) -> str | None:
    """The path of the first condition comparing a contact trait's value (`is_set` and
    `not_set` reveal nothing), among rules given by their paths; None when there is none."""
    for root, rule in rules.items():
        for path, c in located_conditions(rule, root):
            if not isinstance(c, TraitCondition) or c.field not in CONTACT_FIELDS:
                continue
            if c.op not in PRESENCE_OPS:
                return path
    return None


def referenced_tags(rule: Rule) -> frozenset[str]:
    """The codes of the tags a rule reads."""
    return frozenset(c.tag for c in conditions(rule) if isinstance(c, TagCondition))


def referenced_segments(rule: Rule) -> frozenset[str]:
    """The codes of the segments a rule reads."""
    return frozenset(c.segment for c in conditions(rule) if isinstance(c, SegmentCondition))


# --- dates ------------------------------------------------------------------------------------


def parse_iso_date(value: str) -> date:
    """A date value already accepted by the parser."""
    parsed = _iso_date(value)
    if parsed is None:  # pragma: no cover - the parser only lets ISO dates through
        raise InputError(f"{value!r} is not an ISO date")
    return parsed


def years_before(day: date, years: int) -> date:
    """`day` `years` years earlier; 29 February becomes the 28th in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birthday: date, day: date) -> int:
    """Completed years of life on `day` (a 29 February birthday turns on 1 March)."""
    years = day.year - birthday.year
    return years - 1 if (day.month, day.day) < (birthday.month, birthday.day) else years


def check_code(value: Any, *, what: str, path: str = "code") -> str:
    """A tag or segment code, checked as in rules."""
    return _code(value, path, what)
