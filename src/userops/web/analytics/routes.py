"""The Analytics routes: /analytics/<tab> for each tab, and the dropped users of a funnel step
as a CSV file."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.responses import Response

from userops.analytics.funnels import MAX_STEPS, ORDERS
from userops.errors import InputError
from userops.profiles.segments import SegmentInfo
from userops.services.auth import OperatorInfo
from userops.web.analytics import activity, channels, funnels, lifecycle, retention, revenue
from userops.web.analytics.controls import Params
from userops.web.analytics.page import ask_of, show
from userops.web.deps import Analyst, Viewer, check_csrf, runtime_of
from userops.web.rendering import flash

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
    try:
        with runtime_of(request).warehouse() as wh:
            name, text = funnels.dropped_csv(wh, ask_of(request, wh, params))
    except InputError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=400)
    return Response(
        text.encode("utf-8-sig"),  # with a BOM: spreadsheets then read the Chinese right
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def _save_segment(
    request: Request, operator: OperatorInfo, tab: str, save: Callable[..., SegmentInfo]
) -> Response:
    """Save some users of a page (its query string, with the form's `cell_*` fields) as a
    static segment (人群), then show it; on a refusal, back to the page with the reason."""
    form = await request.form()
    code, name = (str(form.get(key) or "").strip() for key in ("code", "name"))
    cell = [(k, str(v)) for k, v in form.multi_items() if k.startswith("cell_")]
    page = Params(request.query_params, f"/analytics/{tab}")
    params = Params([*page.items, *cell], page.path)
    runtime = runtime_of(request)
    try:
        with runtime.warehouse() as wh:
            ask = ask_of(request, wh, params)
            saved = save(runtime.engine, wh, ask, code=code, name=name, actor=operator.username)
    except InputError as exc:
        flash(request, "analytics.save_failed", error=str(exc))
        return RedirectResponse(page.link(), status_code=303)
    flash(request, "profiles.segment.created", code=saved.code, size=f"{saved.size or 0:,}")
    return RedirectResponse(f"/profiles/segments/{saved.code}", status_code=303)


@router.post("/funnels/dropped/segment", dependencies=[Depends(check_csrf)])
async def funnel_dropped_segment(request: Request, operator: Analyst) -> Response:
    """The users who dropped at step `dropped`, saved as a static segment."""
    return await _save_segment(request, operator, "funnels", funnels.save_dropped)


@router.post("/retention/segment", dependencies=[Depends(check_csrf)])
async def retention_cell_segment(request: Request, operator: Analyst) -> Response:
    """One retention cell's users (retained or lost), saved as a static segment."""
    return await _save_segment(request, operator, "retention", retention.save_cell)


@router.get("/revenue")
def revenue_page(request: Request, operator: Viewer) -> Response:
    return show(request, "revenue", revenue.build)


@router.get("/channels")
def channels_page(request: Request, operator: Viewer) -> Response:
    return show(request, "channels", channels.build, channels.presets)


@router.get("/lifecycle")
def lifecycle_page(request: Request, operator: Viewer) -> Response:
    return show(request, "lifecycle", lifecycle.build)
