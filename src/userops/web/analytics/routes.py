"""The Analytics routes: /analytics/<tab> for each tab, and the dropped users of a funnel step
as a CSV file."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.responses import Response

from userops.analytics import catalog
from userops.analytics.funnels import MAX_STEPS, ORDERS
from userops.errors import InputError
from userops.web.analytics import activity, channels, funnels, lifecycle, retention, revenue
from userops.web.analytics.controls import Params, read_common
from userops.web.analytics.page import Ask, show
from userops.web.deps import Viewer, locale_of, runtime_of, settings_of
from userops.web.i18n import translator

router = APIRouter(prefix="/analytics", include_in_schema=False)


@router.get("")
def analytics_home(request: Request, operator: Viewer) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/analytics/activity{query}", status_code=303)


@router.get("/activity")
def activity_page(request: Request, operator: Viewer) -> Response:
    return show(request, "activity", activity.build)


@router.get("/retention")
def retention_page(request: Request, operator: Viewer) -> Response:
    return show(request, "retention", retention.build, retention.presets)


@router.get("/funnels")
def funnels_page(request: Request, operator: Viewer) -> Response:
    params = Params(request.query_params)
    return show(
        request,
        "funnels",
        funnels.build,
        funnels.presets,
        builder=funnels.builder_rows(params),
        orders=ORDERS,
        max_steps=MAX_STEPS,
    )


@router.get("/funnels/dropped.csv")
def funnel_dropped_csv(request: Request, operator: Viewer) -> Response:
    """The users who dropped at step `dropped`, one per line, for a spreadsheet or a campaign."""
    params = Params(request.query_params, request.url.path)
    today = datetime.now(settings_of(request).tz).date()
    t = translator(locale_of(request))
    try:
        with runtime_of(request).warehouse() as wh:
            covered = catalog.data_days(wh)
            common = read_common(params, covered, today)
            ask = Ask(params, common, covered, catalog.event_names(wh), t)
            name, text = funnels.dropped_csv(wh, ask)
    except InputError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=400)
    return Response(
        text.encode("utf-8-sig"),  # with a BOM: spreadsheets then read the Chinese right
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/revenue")
def revenue_page(request: Request, operator: Viewer) -> Response:
    return show(request, "revenue", revenue.build)


@router.get("/channels")
def channels_page(request: Request, operator: Viewer) -> Response:
    return show(request, "channels", channels.build, channels.presets)


@router.get("/lifecycle")
def lifecycle_page(request: Request, operator: Viewer) -> Response:
    return show(request, "lifecycle", lifecycle.build)
