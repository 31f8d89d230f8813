"""Turning executed rows into result values: plain rows, group order, money and rates.

Money stays Decimal with 2 places (half-up when divided); rates are floats rounded to 4 places,
None when the denominator is 0 (a rate of nothing is not 0%).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis.expr.types as ir

CENT = Decimal("0.01")


def fetch(expr: ir.Table) -> list[dict[str, Any]]:
    """Execute and return plain rows (dates as `date`)."""
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, datetime):
                row[name] = value.date()
    return rows


def as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def group_order(groups: Iterable[str | None]) -> list[str | None]:
    """Breakdown groups in a stable order: by name, users without the trait (None) last."""
    distinct = set(groups)
    named: list[str | None] = [*sorted(g for g in distinct if g is not None)]
    return [*named, None] if None in distinct else named


def money(value: Any) -> Decimal:
    """A sum from the warehouse (Decimal, or None for an empty sum) as Decimal with 2 places."""
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def per(amount: Decimal, count: int) -> Decimal | None:
    """Money per unit (ARPU, AOV, CAC...), None when there is nothing to divide by."""
    return (amount / count).quantize(CENT, rounding=ROUND_HALF_UP) if count else None


def ratio(part: float | int | Decimal, whole: float | int | Decimal) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def money_json(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
