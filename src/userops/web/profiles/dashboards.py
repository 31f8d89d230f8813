"""The profile dashboards: the RFM groups (users, revenue share, average scores and what to do
with each group), the lifecycle stages 引入期 -> 流失期, the value pyramid S/A/B/C/D, and the
migration of users between a tag's values from one refresh day to another (matrix + Sankey).

Every number is a service's (`profiles.reports`, `profiles.history`), shown as it is; the
charts draw the same numbers from a spec in the page (console.js, profiles section).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from userops.errors import InputError
from userops.profiles import history, reports, tagvalues, taxonomy
from userops.profiles.computed.rfm import GROUPS
from userops.web.deps import Viewer, runtime_of
from userops.web.profiles.common import PREFIX, engine_of, english, named, t_of
from userops.web.rendering import render

router = APIRouter(prefix=PREFIX)

LIFECYCLE: Final = "lifecycle_stage"
GRADE: Final = "value_grade"
STAGE_COLORS: Final = ("#2e9d5b", "#1f6feb", "#9333ea", "#d97706", "#dc2626")
GRADE_COLORS: Final = ("#b45309", "#d97706", "#1f6feb", "#60a5fa", "#94a3b8")


@router.get("/rfm")
def rfm_page(request: Request, operator: Viewer) -> Response:
    t = t_of(request)
    with runtime_of(request).warehouse() as wh:
        report = reports.rfm_report(engine_of(request), wh)
    names = [named(request, g.name, g.name_en, g.code) for g in report.groups]
    chart = {
        "kind": "shares",
        "x": names,
        "series": [
            {"name": t("profiles.rfm.user_share"), "data": [g.user_share for g in report.groups]},
            {
                "name": t("profiles.rfm.revenue_share"),
                "data": [g.revenue_share for g in report.groups],
            },
        ],
    }
    highs = {label.code: high for high, label in GROUPS.items()}
    context = {"tab": "rfm", "report": report, "names": names, "chart": chart, "highs": highs}
    return render(request, "profiles/rfm.html", context)


@router.get("/lifecycle")
def lifecycle_page(request: Request, operator: Viewer) -> Response:
    t = t_of(request)
    with runtime_of(request).warehouse() as wh:
        counts = reports.value_counts(engine_of(request), wh, LIFECYCLE)
    info = taxonomy.get_tag(engine_of(request), LIFECYCLE)
    names = [named(request, c.name, c.name_en, c.value) for c in counts]
    chart = {
        "kind": "bar",
        "x": names,
        "colors": list(STAGE_COLORS),
        "series": [{"name": t("profiles.col.users"), "data": [c.users for c in counts]}],
    }
    context = {
        "tab": "lifecycle",
        "tag": info,
        "counts": counts,
        "names": names,
        "chart": chart,
        "params": taxonomy.resolved_params(engine_of(request), LIFECYCLE),
    }
    return render(request, "profiles/lifecycle.html", context)


@router.get("/grades")
def grades_page(request: Request, operator: Viewer) -> Response:
    t = t_of(request)
    with runtime_of(request).warehouse() as wh:
        counts = reports.value_counts(engine_of(request), wh, GRADE)
    info = taxonomy.get_tag(engine_of(request), GRADE)
    names = [named(request, c.name, c.name_en, c.value) for c in counts]
    chart = {
        "kind": "pyramid",
        "x": names,
        "colors": list(GRADE_COLORS),
        "series": [{"name": t("profiles.col.users"), "data": [c.users for c in counts]}],
        "shares": [c.share for c in counts],
    }
    context = {
        "tab": "grades",
        "tag": info,
        "counts": counts,
        "names": names,
        "chart": chart,
        "params": taxonomy.resolved_params(engine_of(request), GRADE),
    }
    return render(request, "profiles/grades.html", context)


def _day(raw: str | None, label: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(f"{label} must be a date (YYYY-MM-DD), not {raw!r}") from None


def migration_matrix(m: history.Migration, *, english: bool) -> dict[str, Any]:
    """The migration as a table: values on the first day down, on the second across."""
    values = list(m.values)
    cells = [[m.users(a, b) for b in values] for a in values]
    return {
        "values": [{"code": v, "name": m.label(v, english=english)} for v in values],
        "cells": cells,
        "totals_from": [sum(row) for row in cells],
        "totals_to": [sum(cells[i][j] for i in range(len(values))) for j in range(len(values))],
        "total": sum(sum(row) for row in cells),
        "moved": sum(c.users for c in m.cells if c.before != c.after),
    }


@router.get("/migration")
def migration_page(
    request: Request,
    operator: Viewer,
    tag: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    engine = engine_of(request)
    choices = [
        {"code": t.code, "name": named(request, t.name, t.name_en, t.code)}
        for t in taxonomy.list_tags(engine)
        if t.value_type in ("enum", "boolean")
    ]
    code = tag or "rfm_group"
    error = None
    result: history.Migration | None = None
    days: list[date] = []
    if not any(c["code"] == code for c in choices):
        error = f"no tag {code!r} with values to compare (an enum or boolean tag)"
    else:
        with runtime_of(request).warehouse() as wh:
            days = tagvalues.snapshot_dates(wh, code)
            try:
                first = _day(start, "the first day") or (days[0] if days else None)
                last = _day(end, "the second day") or (days[-1] if days else None)
                if first is not None and last is not None:
                    result = history.migration(engine, wh, tag=code, start=first, end=last)
            except InputError as exc:
                error = str(exc)
    is_en = english(request)
    sankey = None
    if result is not None and result.start != result.end:
        sankey = {"kind": "sankey", **result.sankey(english=is_en)}
    context = {
        "tab": "migration",
        "choices": choices,
        "code": code,
        "days": days,
        "start": start or (days[0].isoformat() if days else ""),
        "end": end or (days[-1].isoformat() if days else ""),
        "result": result,
        "matrix": migration_matrix(result, english=is_en) if result is not None else None,
        "sankey": sankey,
        "error": error,
    }
    return render(request, "profiles/migration.html", context, status_code=400 if error else 200)
