"""Filters and breakdowns every metric takes: user traits and event properties, as typed values.

An operator writes a filter as text, the same on the command line (`--where channel=referral`)
and in the JSON API (`?where=channel=referral`):

    channel=referral            equals
    channel=referral,social     any of (a comma inside a value is written `\\,`)
    channel!=unknown            differs (users without the trait match too)
    city!=北京,上海              none of (users without the trait match too)
    email is set                has a value;  `email is not set`: has none
    prop.price>=100             numeric comparison (>, >=, <, <=) on JSON numbers
    prop.category=shoes         an event property (the `properties` JSON of events)
    trait.device_os=iOS         a custom trait (the `traits` JSON of users)

Trait filters choose users (an anonymous visitor who never signed up has no traits); property
filters choose events (an event that does not match is as if it never happened). A breakdown
(`--by channel`) splits a metric by one trait. Filters compile to Ibis expressions, never SQL
text: values only ever reach the database as literals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, get_args

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.errors import InputError

Op = Literal["=", "!=", "in", "not in", "is set", "is not set", ">", ">=", "<", "<="]
OPS: Final[tuple[Op, ...]] = get_args(Op)
NEGATIVE_OPS: Final[frozenset[str]] = frozenset({"!=", "not in", "is not set"})
NUMERIC_OPS: Final[frozenset[str]] = frozenset({">", ">=", "<", "<="})

TRAIT_COLUMNS: Final = ("channel", "gender", "province", "city", "occupation")
TRAIT_PREFIX: Final = "trait."
PROPERTY_PREFIX: Final = "prop."

_KEY = re.compile(r"^\w+$")  # letters (any script), digits, underscore: safe in a JSON path
_PRESENCE = re.compile(r"^\s*(?P<field>[^\s=!<>]+)\s+is\s+(?P<neg>not\s+)?set\s*$", re.IGNORECASE)
_COMPARE = re.compile(
    r"^\s*(?P<field>[^\s=!<>]+)\s*(?P<op>!=|>=|<=|=|>|<)(?P<value>.*)$", re.DOTALL
)
_SPLIT = re.compile(r"(?<!\\)((?:\\\\)*),")


def fields_help() -> str:
    return f"{', '.join(TRAIT_COLUMNS)}, {TRAIT_PREFIX}KEY (custom traits)"


@dataclass(frozen=True, slots=True)
class TraitFilter:
    """A condition on a user trait: a column of `users` or `trait.KEY` of its traits JSON."""

    field: str
    op: Op
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        return _render(self.field, self.op, self.values)


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    """A condition on an event property: `key` of the events' properties JSON."""

    key: str
    op: Op
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        return _render(PROPERTY_PREFIX + self.key, self.op, self.values)


@dataclass(frozen=True, slots=True)
class Filters:
    traits: tuple[TraitFilter, ...] = ()
    properties: tuple[PropertyFilter, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.traits or self.properties)

    def as_params(self) -> list[str]:
        """The filters written back as `--where` / `where=` strings (parse(as_params()) == self)."""
        return [str(f) for f in (*self.traits, *self.properties)]


NO_FILTERS: Final = Filters()


def parse_where(items: Sequence[str] | None) -> Filters:
    """Filters from `--where` options or `where=` query parameters; InputError names a bad one."""
    traits: list[TraitFilter] = []
    properties: list[PropertyFilter] = []
    for item in items or ():
        field, op, values = _parse_condition(item)
        if field.startswith(PROPERTY_PREFIX):
            properties.append(PropertyFilter(_json_key(field, PROPERTY_PREFIX), op, values))
        else:
            _check_trait_field(field, what="filter")
            if op in NUMERIC_OPS and not field.startswith(TRAIT_PREFIX):
                raise InputError(
                    f"filter {item!r}: {field} is text; compare it with =, != or is set"
                )
            traits.append(TraitFilter(field, op, values))
    return Filters(tuple(traits), tuple(properties))


def parse_by(value: str | None) -> str | None:
    """The trait a metric is broken down by (`--by channel`), or None."""
    if value is None or not value.strip():
        return None
    field = value.strip()
    _check_trait_field(field, what="breakdown")
    return field


def _parse_condition(item: str) -> tuple[str, Op, tuple[str, ...]]:
    presence = _PRESENCE.match(item)
    if presence:
        return presence["field"], "is not set" if presence["neg"] else "is set", ()
    match = _COMPARE.match(item)
    if not match:
        raise InputError(
            f"filter {item!r} is not FIELD=VALUE, FIELD!=VALUE, FIELD>N, 'FIELD is set' "
            "or 'FIELD is not set'"
        )
    field, op, raw = match["field"], match["op"], match["value"].strip()
    if op in NUMERIC_OPS:
        if _number(raw) is None:
            raise InputError(f"filter {item!r}: {raw!r} is not a number")
        return field, op, (raw,)  # type: ignore[return-value]
    values = tuple(_unescape(v).strip() for v in _SPLIT.sub(r"\1\0", raw).split("\0"))
    if not raw or any(v == "" for v in values):
        raise InputError(
            f"filter {item!r} has an empty value; to find users without it write "
            f"'{field} is not set'"
        )
    if len(values) > 1:
        return field, "in" if op == "=" else "not in", values
    return field, op, values  # type: ignore[return-value]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,")


def _render(field: str, op: Op, values: tuple[str, ...]) -> str:
    if op in ("is set", "is not set"):
        return f"{field} {op}"
    joined = ",".join(_escape(v) for v in values)
    symbol = {"in": "=", "not in": "!="}.get(op, op)
    return f"{field}{symbol}{joined}"


def _check_trait_field(field: str, *, what: str) -> None:
    if field.startswith(TRAIT_PREFIX):
        _json_key(field, TRAIT_PREFIX)
        return
    if field not in TRAIT_COLUMNS:
        hint = f", or {PROPERTY_PREFIX}KEY (event properties)" if what == "filter" else ""
        raise InputError(f"unknown {what} field {field!r}: use one of {fields_help()}{hint}")


def _json_key(field: str, prefix: str) -> str:
    key = field[len(prefix) :]
    if not _KEY.match(key):
        raise InputError(f"{field!r}: a key after {prefix!r} is letters, digits and underscores")
    return key


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


# --- compilation to Ibis ------------------------------------------------------------------------


class JsonField:
    """One key of a JSON column, read as a string, number or boolean the same way on each engine.

    A value of another JSON type reads as null (`{"price": "65"}` is not the number 65).
    DuckDB stores JSON natively and Ibis reads it; ClickHouse keeps JSON as a String, read with
    its JSONType/JSONExtract* functions.
    """

    def __init__(self, column: ir.Value, key: str, engine: str):
        self.key = key
        self.clickhouse = engine == "clickhouse"
        if self.clickhouse:
            self.source: ir.StringValue = column.cast(dt.string)
            self.kind: ir.StringValue = _ch_json_type(self.source, key)
        else:
            json = column if column.type().is_json() else column.cast(dt.json)
            self.raw: ir.JSONValue = json[key]

    def string(self) -> ir.StringValue:
        if self.clickhouse:
            return ibis.ifelse(
                self.kind == "String", _ch_json_string(self.source, self.key), ibis.null(dt.string)
            )
        return self.raw.str

    def number(self) -> ir.FloatingValue:
        if self.clickhouse:
            numeric = self.kind.isin(["Int64", "UInt64", "Double"])
            value = _ch_json_float(self.source, self.key)
            return ibis.ifelse(numeric, value, ibis.null(dt.float64))
        return self.raw.float

    def boolean(self) -> ir.BooleanValue:
        if self.clickhouse:
            value = _ch_json_bool(self.source, self.key) == 1
            return ibis.ifelse(self.kind == "Bool", value, ibis.null(dt.boolean))
        return self.raw.bool

    def is_set(self) -> ir.BooleanValue:
        if self.clickhouse:
            return self.kind.notnull() & (self.kind != "Null")
        return self.raw.notnull() & (self.raw.cast(dt.string) != "null")

    def text(self) -> ir.StringValue:
        """The value as text whatever its type (a breakdown label); null when absent."""
        other = _ch_json_raw(self.source, self.key) if self.clickhouse else self.raw.cast(dt.string)
        return ibis.ifelse(self.is_set(), self.string().fill_null(other), ibis.null(dt.string))


@ibis.udf.scalar.builtin(name="JSONType")  # type: ignore[untyped-decorator]
def _ch_json_type(json: dt.string, key: str) -> dt.string:
    """ClickHouse: the JSON type of json[key] ('Null' when absent)."""


@ibis.udf.scalar.builtin(name="JSONExtractString")  # type: ignore[untyped-decorator]
def _ch_json_string(json: dt.string, key: str) -> dt.string:
    """ClickHouse: json[key] as a string."""


@ibis.udf.scalar.builtin(name="JSONExtractFloat")  # type: ignore[untyped-decorator]
def _ch_json_float(json: dt.string, key: str) -> dt.float64:
    """ClickHouse: json[key] as a number."""


@ibis.udf.scalar.builtin(name="JSONExtractBool")  # type: ignore[untyped-decorator]
def _ch_json_bool(json: dt.string, key: str) -> dt.int64:
    """ClickHouse: json[key] as 0/1."""


@ibis.udf.scalar.builtin(name="JSONExtractRaw")  # type: ignore[untyped-decorator]
def _ch_json_raw(json: dt.string, key: str) -> dt.string:
    """ClickHouse: json[key] as JSON text."""


def _positive(value: ir.Value | JsonField, op: Op, values: tuple[str, ...]) -> ir.BooleanValue:
    """The filter without its negation, never null (null counts as no match)."""
    if isinstance(value, JsonField):
        if op in ("is set", "is not set"):
            return value.is_set().fill_null(False)
        if op in NUMERIC_OPS:
            number = float(values[0])
            n = value.number()
            compared = {">": n > number, ">=": n >= number, "<": n < number, "<=": n <= number}
            return compared[op].fill_null(False)
        return ibis.or_(*[_json_equals(value, v) for v in values])
    column: ir.StringValue = value
    if op in ("is set", "is not set"):
        return column.notnull()
    if op in ("in", "not in"):
        return column.isin(list(values)).fill_null(False)
    return (column == values[0]).fill_null(False)


def _json_equals(field: JsonField, value: str) -> ir.BooleanValue:
    matches = [field.string() == value]
    number = _number(value)
    if number is not None:
        matches.append(field.number() == float(number))
    if value.lower() in ("true", "false"):
        matches.append(field.boolean() == (value.lower() == "true"))
    return ibis.or_(*matches).fill_null(False)


def json_equals(field: JsonField, value: str) -> ir.BooleanValue:
    """`field` equals the text `value` as every filter compares (a JSON string of that text, or
    a JSON number or boolean equal to it); never null. Audience rules reuse it."""
    return _json_equals(field, value)


def _predicate(value: ir.Value | JsonField, op: Op, values: tuple[str, ...]) -> ir.BooleanValue:
    positive = _positive(value, op, values)
    return ~positive if op in NEGATIVE_OPS else positive


def trait_value(users: ir.Table, field: str, engine: str) -> ir.Value | JsonField:
    if field.startswith(TRAIT_PREFIX):
        return JsonField(users.traits, field[len(TRAIT_PREFIX) :], engine)
    return users[field]


def trait_match(users: ir.Table, filters: Filters, engine: str) -> ir.BooleanValue | None:
    """All trait filters on a `users` table, or None without any."""
    if not filters.traits:
        return None
    return ibis.and_(
        *[_predicate(trait_value(users, f.field, engine), f.op, f.values) for f in filters.traits]
    )


def missing_user_matches(filters: Filters) -> bool:
    """Whether a user without a `users` row (every trait unset) passes the trait filters."""
    return all(f.op in NEGATIVE_OPS for f in filters.traits)


def property_match(events: ir.Table, filters: Filters, engine: str) -> ir.BooleanValue | None:
    """All property filters on an `events` table, or None without any."""
    if not filters.properties:
        return None
    return ibis.and_(
        *[
            _predicate(JsonField(events.properties, f.key, engine), f.op, f.values)
            for f in filters.properties
        ]
    )


def breakdown_value(users: ir.Table, by: str, engine: str) -> ir.StringValue:
    value = trait_value(users, by, engine)
    if isinstance(value, JsonField):
        return value.text()
    return value.cast(dt.string)
