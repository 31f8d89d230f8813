"""The Funnels tab: a step builder (2 to 20 steps, an event each, one optional property
condition per step), the window and order mode; conversion and median time to convert per step,
by one trait; the users who dropped at a step, listed and as a CSV file.

Steps travel as parallel GET parameters, `step` (the event) and `step_where` (its condition,
`category=美妆个护`, the `prop.` prefix optional): the builder's rows in order, blank rows left
out.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import Engine

from userops.analytics.catalog import DataDays
from userops.analytics.funnels import (
    DEFAULT_WINDOW,
    MAX_STEPS,
    ORDERS,
    Funnel,
    FunnelSpec,
    FunnelStep,
    StepResult,
    format_window,
    funnel,
    parse_funnel_where,
)
from userops.domain.spreadsheet import cell
from userops.errors import InputError
from userops.profiles import segments
from userops.profiles.segments import SegmentInfo
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import chart, series
from userops.web.analytics.controls import Params
from userops.web.analytics.page import Ask
from userops.web.i18n import Translator

SHOWN_DROPPED: Final = 200  # users listed on the page; the CSV has them all
BLANK_ROWS: Final = 2  # an empty builder offers this many rows
PRESET_STEPS: Final = ("view_item", "add_to_cart", "purchase")


def read_steps(params: Params) -> list[tuple[str, str]]:
    """(event, condition) of the builder's non-blank rows; InputError for a condition alone."""
    events, conditions = params.raw("step"), params.raw("step_where")
    rows = []
    for number, event in enumerate(events, 1):
        condition = conditions[number - 1].strip() if number <= len(conditions) else ""
        if event.strip():
            rows.append((event.strip(), condition))
        elif condition:
            raise InputError(f"funnel step {number} has a condition ({condition}) but no event")
    return rows


def spec_of(ask: Ask, rows: list[tuple[str, str]]) -> FunnelSpec:
    steps = []
    for number, (event, condition) in enumerate(rows, 1):
        conditions: tuple[Any, ...] = ()
        if condition:
            _common, per_step = parse_funnel_where([f"{number}:{condition}"], len(rows))
            conditions = per_step.get(number, ())
        steps.append(FunnelStep(event, conditions))
    c = ask.common
    return FunnelSpec.of(
        steps,
        start=c.start,
        end=c.end,
        window=ask.params.text("window") or format_window(DEFAULT_WINDOW),
        order=ask.params.choice("order", ORDERS, "ordered"),
        by=c.by,
        filters=c.filters,
    )


def run(wh: Warehouse, ask: Ask) -> tuple[FunnelSpec, Funnel] | None:
    """The funnel the builder asks for, or None while it has no step."""
    rows = read_steps(ask.params)
    if not rows:
        return None
    spec = spec_of(ask, rows)
    return spec, funnel(wh, spec)


def _step_rows(steps: tuple[StepResult, ...]) -> list[dict[str, Any]]:
    out = []
    for i, step in enumerate(steps):
        previous = steps[i - 1].count if i else None
        out.append(
            {
                "step": step,
                "dropped": previous - step.count if previous is not None else None,
            }
        )
    return out


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    done = run(wh, ask)
    if done is None:
        return {"ready": False, "empty": False}
    spec, result = done
    t = ask.t
    dropped_at = ask.params.integer("dropped", 0, 0, MAX_STEPS)
    dropped: list[str] | None = None
    if dropped_at:
        dropped = result.dropped_users(dropped_at)
    names = [f"{s.step}. {s.label}" for s in result.steps]
    if spec.by is None:
        figure = chart(
            "steps",
            names,
            [
                series(
                    t("analytics.funnels.users"),
                    [s.count for s in result.steps],
                    labels=[_pct(s.conversion) for s in result.steps],
                )
            ],
        )
    else:
        figure = chart(
            "bar",
            names,
            [series(ask.label(g.key), [s.conversion for s in g.steps]) for g in result.breakdown],
            fmt="pct",
        )
    return {
        "ready": True,
        "spec": spec,
        "window": format_window(spec.window),
        "overall": _step_rows(result.steps),
        "breakdown": [
            {"key": g.key, "label": ask.label(g.key), "rows": _step_rows(g.steps)}
            for g in result.breakdown
        ],
        "dropped_at": dropped_at or None,
        "dropped": [{"id": uid, "href": profile_href(uid)} for uid in dropped[:SHOWN_DROPPED]]
        if dropped is not None
        else None,
        "dropped_total": len(dropped) if dropped is not None else 0,
        "dropped_link": lambda k: ask.params.link(dropped=k),
        "csv_link": lambda k: ask.params.link("/analytics/funnels/dropped.csv", dropped=k),
        "segment_link": lambda k: ask.params.link("/analytics/funnels/dropped/segment", dropped=k),
        "charts": {"funnel": figure},
        "empty": result.steps[0].count == 0,
    }


def profile_href(uid: str) -> str:
    """The user's 360 page (built by the profiles area)."""
    return f"/profiles/users/{quote(uid, safe='')}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def dropped_csv(wh: Warehouse, ask: Ask) -> tuple[str, str]:
    """(file name, CSV text) of the users who dropped at step `dropped` (2..n)."""
    done = run(wh, ask)
    if done is None:
        raise InputError("the funnel has no steps: add 2 to 20 steps")
    spec, result = done
    step = ask.params.integer("dropped", 0, 0, MAX_STEPS)
    users = result.dropped_users(step)
    groups = dict(
        zip(result.users["uid"].to_pylist(), result.users["grp"].to_pylist(), strict=True)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["user_id", "last_step", "dropped_before"]
    if spec.by is not None:
        header.append(spec.by)
    writer.writerow(header)
    last, missed = spec.steps[step - 2].label, spec.steps[step - 1].label
    for uid in users:
        row = [cell(uid), cell(last), cell(missed)]
        if spec.by is not None:
            row.append(cell(groups.get(uid) or ""))
        writer.writerow(row)
    return f"funnel-dropped-step-{step}.csv", out.getvalue()


def save_dropped(
    engine: Engine, wh: Warehouse, ask: Ask, *, code: str, name: str, actor: str
) -> SegmentInfo:
    """The users who dropped at step `dropped` (2..n), saved as a static segment."""
    done = run(wh, ask)
    if done is None:
        raise InputError("the funnel has no steps: add 2 to 20 steps")
    spec, _ = done
    step = ask.params.integer("dropped", 0, 0, MAX_STEPS)
    return segments.create_from_funnel(
        engine, wh, code=code, name=name, spec=spec, dropped_at=step, actor=actor
    )


def builder_rows(params: Params) -> list[dict[str, str]]:
    """The builder's rows as the operator left them (blank rows kept, at least two)."""
    events, conditions = params.raw("step"), params.raw("step_where")
    rows = [
        {"event": event.strip(), "where": conditions[i].strip() if i < len(conditions) else ""}
        for i, event in enumerate(events[:MAX_STEPS])
    ]
    rows = [r for r in rows if r["event"] or r["where"]]
    while len(rows) < BLANK_ROWS:
        rows.append({"event": "", "where": ""})
    return rows


def presets(
    params: Params, events: list[str], covered: DataDays | None, t: Translator
) -> list[dict[str, str]]:
    """Browse to purchase by channel, over the last 30 days of data, when those events exist."""
    if covered is None or not all(e in events for e in PRESET_STEPS):
        return []
    start = max(covered.first, covered.last - timedelta(days=29))
    href = params.link(
        keep=(),
        from_=start,
        to=covered.last,
        step=list(PRESET_STEPS),
        window="7d",
        order="ordered",
        by="channel",
    )
    return [
        {
            "id": "browse-to-buy",
            "href": href,
            "title": t("analytics.preset.funnel.title"),
            "help": t("analytics.preset.funnel.help"),
        }
    ]
