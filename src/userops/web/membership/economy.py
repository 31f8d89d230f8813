"""The economy dashboard (积分经济): points issued, redeemed, expired, reversed and outstanding
(the liability) by month and by rule, redemption rate and breakage, the growth value and level
distributions, and the level migration between two dates as a matrix.

Every number is `membership.economy.report`'s, shown as it is; the charts draw the same
numbers from JSON embedded in the page (static/console.js, membership section).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from userops.domain.membership.periods import add_months
from userops.errors import InputError
from userops.membership import economy, levels
from userops.web.deps import Viewer
from userops.web.membership.common import PREFIX, engine_of, today, tz_of
from userops.web.membership.forms import day
from userops.web.rendering import render

router = APIRouter(prefix=PREFIX)

FLOWS = ("issued", "redeemed", "expired", "reversed")
DEFAULT_MONTHS = 12


def default_period(end: date) -> tuple[date, date]:
    """The last twelve local months, this one included."""
    return add_months(end.replace(day=1), -(DEFAULT_MONTHS - 1)), end


def _bucket_label(row: dict[str, Any]) -> str:
    low, below = row["from"], row["below"]
    if below is None:
        return f"{low:,}+"
    if below - low == 1:
        return f"{low:,}"
    return f"{low:,}–{below - 1:,}"


def migration_matrix(rows: list[dict[str, Any]], scheme: levels.SchemeInfo) -> dict[str, Any]:
    """The migration rows as a matrix: from-levels down, to-levels across (None: no level)."""
    order: list[str | None] = [None, *(lv.code for lv in scheme.levels)]
    names: dict[str | None, str] = {lv.code: lv.name for lv in scheme.levels}
    cells = {(r["from"], r["to"]): int(r["users"]) for r in rows}
    used = {code for pair in cells for code in pair}
    shown = [code for code in order if code is not None or None in used]
    return {
        "levels": [{"code": code, "name": names.get(code)} for code in shown],
        "cells": [[cells.get((a, b), 0) for b in shown] for a in shown],
        "totals_from": [sum(cells.get((a, b), 0) for b in shown) for a in shown],
        "totals_to": [sum(cells.get((a, b), 0) for a in shown) for b in shown],
        "moved": sum(n for (a, b), n in cells.items() if a != b),
        "total": sum(cells.values()),
    }


def chart_data(report: dict[str, Any]) -> dict[str, Any]:
    months = report["months"]
    data: dict[str, Any] = {
        "months": [m["month"] for m in months],
        "flows": {flow: [m[flow] for m in months] for flow in FLOWS},
        "outstanding": [m["outstanding"] for m in months],
        "pending": [m["pending"] for m in months],
        "growth": {
            "labels": [_bucket_label(row) for row in report["growth"]],
            "users": [row["users"] for row in report["growth"]],
        },
    }
    if "levels" in report:
        data["levels"] = {
            "labels": [row["name"] or "-" for row in report["levels"]],
            "users": [row["users"] for row in report["levels"]],
        }
    return data


@router.get("")
def economy_page(
    request: Request,
    operator: Viewer,
    start: str | None = None,
    end: str | None = None,
    scheme: str | None = None,
    migration_from: str | None = None,
) -> Response:
    engine, tz = engine_of(request), tz_of(request)
    default_start, default_end = default_period(today(request))
    error = None
    schemes = levels.list_schemes(engine)
    try:
        first = day(start, "the first day") or default_start
        last = day(end, "the last day") or default_end
        moved_from = day(migration_from, "the migration's first day") or first
        if last < first:
            raise InputError("the last day comes before the first day")
        if moved_from > last:
            raise InputError("the migration's first day comes after the last day")
        chosen = next((s for s in schemes if s.code == scheme), None)
        if scheme and chosen is None:
            raise InputError(f"no level scheme {scheme!r}")
    except InputError as exc:
        error = str(exc)
        first, last, moved_from, chosen = default_start, default_end, default_start, None
    if chosen is None and not scheme:
        chosen = next((s for s in schemes if s.is_active), schemes[0] if schemes else None)

    def report_of(start_day: date, end_day: date, moved: date) -> dict[str, Any]:
        return economy.report(
            engine,
            start=start_day,
            end=end_day,
            tz=tz,
            scheme=chosen.code if chosen else None,
            migration_from=moved,
        )

    try:  # the report's own limits (the days' range, its length) as the page's error
        report = report_of(first, last, moved_from)
    except InputError as exc:
        error = str(exc)
        first, last, moved_from = default_start, default_end, default_start
        report = report_of(first, last, moved_from)
    last_month = report["months"][-1]
    context = {
        "tab": "economy",
        "error": error,
        "report": report,
        "pending": last_month["pending"],
        "start": first.isoformat(),
        "end": last.isoformat(),
        "migration_from": moved_from.isoformat(),
        "schemes": schemes,
        "scheme": chosen,
        "matrix": migration_matrix(report["migration"], chosen) if chosen else None,
        "growth_labels": [_bucket_label(row) for row in report["growth"]],
        "chart_data": chart_data(report),
        "flows": FLOWS,
    }
    return render(request, "membership/economy.html", context, status_code=400 if error else 200)
