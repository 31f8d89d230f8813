"""What every computed tag model is: parameters in, one Ibis table (user_id, value, number) out.

A `Model` reads and checks its parameters (`parse`, refusing with the field's name), says which
per-user facts it needs (`needs`), and builds each of its outputs from the facts table
(`build`). Most models have one output (`value`); RFM has four (the group and the R, F, M
scores), each stored as its own tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.profiles.computed.facts import Need, user_facts

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Label:
    """One value of an enum tag: its code (stored) and its names (shown)."""

    code: str
    name: str  # Chinese, as operators say it
    name_en: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en}


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    value_type: str  # enum or number
    labels: tuple[Label, ...] = ()


@dataclass(frozen=True)
class Model(Generic[P]):
    name: str
    title: str
    title_en: str
    parse: Callable[[Mapping[str, Any] | None], P]
    dump: Callable[[P], dict[str, Any]]
    needs: Callable[[P], frozenset[Need]]
    build: Callable[[ir.Table, P, str, Source, date], ir.Table]
    outputs: dict[str, Output] = field(default_factory=dict)

    def expression(
        self, source: Source, raw: Mapping[str, Any] | None, output: str, *, today: date
    ) -> ir.Table:
        """The tag's values as of local day `today`, straight from the warehouse tables (users
        without a value left out: `build` may give them a null one, which the writer drops)."""
        params = self.parse(raw)
        facts = user_facts(source, self.needs(params), today=today)
        rows = self.build(facts, params, output, source, today)
        return rows.filter(rows.value.notnull())


def tag_rows(user_id: ir.Value, value: ir.Value, number: ir.Value | None = None) -> dict[str, Any]:
    """The three columns of a tag's values, typed as tag_values stores them."""
    return {
        "user_id": user_id,
        "value": value.cast(dt.string),
        "number": (number if number is not None else ibis.null()).cast(dt.float64),
    }


def count_ahead(t: ir.Table, column: str, name: str, *, descending: bool) -> ir.Table:
    """`t` plus a column `name`: how many rows of `t` come strictly before each row when ordered
    by `column` (ties share the count: SQL's RANK() - 1).

    Built from a running sum over the distinct values rather than RANK(): ClickHouse gives
    each row of a ROWS frame (which Ibis always writes) its own rank, ties or not.
    """
    key = f"_{name}_key"
    counts = t.group_by(column).aggregate(_n=t.count())
    order = ibis.desc(counts[column]) if descending else ibis.asc(counts[column])
    running = counts._n.sum().over(ibis.cumulative_window(order_by=order))
    counts = counts.select(**{key: counts[column], name: running - counts._n})
    joined = t.join(counts, t[column] == counts[key])
    return joined.drop(key)
