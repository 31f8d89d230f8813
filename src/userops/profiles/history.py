"""How users moved between a tag's values from one refresh day to another (迁移分析): how many
重要价值 buyers of March became 重要挽留 by June, how many growth users matured or went dormant.

`migration(engine, wh, tag=..., start=..., end=...)` compares the tag's snapshot on `start` with
the one on `end` (each time the latest snapshot on or before that day) and counts users per
(from value, to value). A user with no value on one side (not yet tagged, or no longer) is
counted under `null` on that side, so the rows and columns add up to every user tagged on
either day. The result gives the matrix and the nodes and links of a Sankey chart (ECharts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import Engine

from userops.analytics.base import Source
from userops.domain.bounds import check_day
from userops.errors import InputError
from userops.profiles import taxonomy
from userops.profiles.tagvalues import snapshot, snapshot_dates


@dataclass(frozen=True, slots=True)
class Cell:
    before: str | None
    after: str | None
    users: int


@dataclass(frozen=True, slots=True)
class Migration:
    tag: str
    start: date  # the snapshot days compared
    end: date
    values: tuple[str | None, ...]  # every value seen, in the tag's own order, null last
    names: dict[str, tuple[str, str]]  # value -> (name, English name)
    cells: tuple[Cell, ...]

    def users(self, before: str | None, after: str | None) -> int:
        return next((c.users for c in self.cells if (c.before, c.after) == (before, after)), 0)

    def label(self, value: str | None, *, english: bool = False) -> str:
        if value is None:
            return "(none)" if english else "(无)"
        names = self.names.get(value)
        return (names[1] if english else names[0]) if names else value

    def matrix(self) -> list[dict[str, Any]]:
        """One row per value on `start`: users per value on `end`, and the row's total."""
        rows = []
        for before in self.values:
            counts = {after: self.users(before, after) for after in self.values}
            if any(counts.values()):
                rows.append(
                    {
                        "from": before,
                        "to": [{"value": a, "users": n} for a, n in counts.items()],
                        "total": sum(counts.values()),
                    }
                )
        return rows

    def sankey(self, *, english: bool = False) -> dict[str, Any]:
        """ECharts Sankey data: nodes named `<label> · <day>`, links with user counts."""

        def node(value: str | None, day: date) -> str:
            return f"{self.label(value, english=english)} · {day.isoformat()}"

        links = [
            {
                "source": node(c.before, self.start),
                "target": node(c.after, self.end),
                "value": c.users,
            }
            for c in self.cells
            if c.users
        ]
        names = {link["source"] for link in links} | {link["target"] for link in links}
        nodes = [
            {"name": node(v, day)}
            for day in (self.start, self.end)
            for v in self.values
            if node(v, day) in names
        ]
        return {"nodes": nodes, "links": links}

    def as_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "values": [
                {
                    "code": v,
                    "name": self.label(v),
                    "name_en": self.label(v, english=True),
                }
                for v in self.values
            ],
            "matrix": self.matrix(),
            "sankey": self.sankey(),
            "users": sum(c.users for c in self.cells),
            "moved": sum(c.users for c in self.cells if c.before != c.after),
        }


def snapshot_on_or_before(days: list[date], day: date, tag: str) -> date:
    earlier = [d for d in days if d <= day]
    if not earlier:
        first = f"; its first is {days[0].isoformat()}" if days else "; it has none yet"
        raise InputError(f"tag {tag!r} has no snapshot on or before {day.isoformat()}{first}")
    return earlier[-1]


def migration_counts(source: Source, tag: str, start: date, end: date) -> ir.Table:
    """before, after, users: the users per pair of values between two snapshot days."""
    a = snapshot(source, tag, start).select("user_id", before="value")
    b = snapshot(source, tag, end).select(other="user_id", after="value")
    joined = a.outer_join(b, a.user_id == b.other)
    return joined.group_by(["before", "after"]).aggregate(users=joined.count())


def migration(engine: Engine, source: Source, *, tag: str, start: date, end: date) -> Migration:
    check_day(start, "from")
    check_day(end, "to")
    if end < start:
        raise InputError(f"to {end.isoformat()} is before from {start.isoformat()}")
    info = taxonomy.get_tag(engine, tag)
    days = snapshot_dates(source, tag)
    first, last = snapshot_on_or_before(days, start, tag), snapshot_on_or_before(days, end, tag)
    counts = migration_counts(source, tag, first, last)
    rows = counts.order_by([ibis.asc("before"), ibis.asc("after")]).to_pyarrow().to_pylist()
    cells = tuple(Cell(r["before"], r["after"], int(r["users"])) for r in rows)
    order = {label.code: i for i, label in enumerate(info.labels)}
    seen = {c.before for c in cells} | {c.after for c in cells}
    named = sorted((v for v in seen if v is not None), key=lambda v: (order.get(v, len(order)), v))
    values: tuple[str | None, ...] = (*named, None) if None in seen else tuple(named)
    names = {lb.code: (lb.name, lb.name_en) for lb in info.labels}
    return Migration(tag, first, last, values, names, cells)
