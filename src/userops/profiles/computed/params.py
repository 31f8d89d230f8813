"""Reading an operator's parameters of a computed tag: each check names the field it refuses.

Parameters arrive as JSON (the API, `userops tags set-params --file`) or as `k=v` text (the
command line), so every check accepts a number written as text too. A refusal is one
`InputError` saying `<model> parameter '<field>': <what is wrong>`.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.errors import InputError

MAX_DAYS: Final = 3660  # ten years of local days
CENT: Final = Decimal("0.01")
LIMIT: Final = Decimal(10) ** 15


class ParamReader:
    """The raw parameters of one model, read field by field against the defaults."""

    def __init__(self, model: str, raw: Mapping[str, Any] | None, allowed: Collection[str]):
        self.model = model
        self.raw = dict(raw or {})
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            raise InputError(
                f"{model} has no parameter {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
            )

    def error(self, field: str, message: str) -> InputError:
        return InputError(f"{self.model} parameter {field!r}: {message}")

    def has(self, field: str) -> bool:
        return self.raw.get(field) is not None

    def integer(self, field: str, default: int, *, lo: int, hi: int) -> int:
        value = self.raw.get(field, default)
        return self.check_integer(field, value, lo=lo, hi=hi)

    def check_integer(self, field: str, value: Any, *, lo: int, hi: int) -> int:
        number = _whole(value)
        if number is None:
            raise self.error(field, f"{value!r} is not a whole number")
        if not lo <= number <= hi:
            raise self.error(field, f"{number} is not between {lo} and {hi}")
        return number

    def days(self, field: str, default: int) -> int:
        return self.integer(field, default, lo=1, hi=MAX_DAYS)

    def choice(self, field: str, default: str, choices: Collection[str]) -> str:
        value = self.raw.get(field, default)
        if not isinstance(value, str) or value not in choices:
            raise self.error(field, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def decimal(self, field: str, value: Any) -> Decimal:
        if isinstance(value, bool):
            raise self.error(field, f"{value!r} is not a number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.error(field, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise self.error(field, f"{value!r} is not a finite number")
        if number != number.quantize(CENT, rounding=ROUND_DOWN) or abs(number) >= LIMIT:
            raise self.error(field, f"{value!r} needs at most 2 decimals and under 10^15")
        return number.quantize(CENT)

    def sequence(self, field: str, default: tuple[Any, ...], *, length: int) -> list[Any]:
        value = self.raw.get(field, default)
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or len(value) != length:
            raise self.error(field, f"needs exactly {length} values, got {value!r}")
        return list(value)

    def ascending_integers(
        self, field: str, default: tuple[int, ...], *, length: int, lo: int, hi: int
    ) -> tuple[int, ...]:
        values = [
            self.check_integer(field, v, lo=lo, hi=hi)
            for v in self.sequence(field, default, length=length)
        ]
        _strictly_ascending(self, field, values)
        return tuple(values)

    def ascending_decimals(
        self, field: str, default: tuple[Decimal, ...], *, length: int
    ) -> tuple[Decimal, ...]:
        values = [self.decimal(field, v) for v in self.sequence(field, default, length=length)]
        if values[0] <= 0:
            raise self.error(field, "the values must be above 0")
        _strictly_ascending(self, field, values)
        return tuple(values)


def _strictly_ascending(reader: ParamReader, field: str, values: list[Any]) -> None:
    for before, after in itertools.pairwise(values):
        if not before < after:
            raise reader.error(field, f"the values must rise strictly, got {before} then {after}")


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def decimal_literal(value: Decimal) -> ir.DecimalScalar:
    """A parameter as a typed literal (ClickHouse needs the precision spelled out)."""
    return ibis.literal(value, type=dt.Decimal(18, 2))


def number_json(value: Decimal) -> int | float:
    """A Decimal parameter as JSON: an integer when whole, else a float (2 places at most)."""
    return int(value) if value == value.to_integral_value() else float(value)
