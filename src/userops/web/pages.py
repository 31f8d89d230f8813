"""Console pages every operator uses: sign in and out, the overview, the language switch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from userops.analytics.overview import Overview, overview
from userops.services import auth
from userops.web.deps import (
    CsrfRejected,
    Viewer,
    check_csrf,
    codec_of,
    current_operator,
    runtime_of,
    safe_next,
    session_of,
    settings_of,
)
from userops.web.i18n import CATALOGUES, LANG_COOKIE
from userops.web.rendering import flash, render

router = APIRouter(include_in_schema=False)

OVERVIEW_DAYS = 30
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

# (metric key, series field, total field, how the total reads, shown as a percentage)
_CARDS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("new_users", "new_users", "new_users", "metric.total", False),
    ("active_users", "active_users", "active_users_avg", "metric.daily_avg", False),
    ("paying_users", "paying_users", "paying_users_avg", "metric.daily_avg", False),
    ("revenue", "revenue", "revenue", "metric.total", False),
    ("retained_d7", "retained_d7", "retained_d7_avg", "metric.avg", True),
)


def _login_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    context = {"next": next_path, "error": error, "username": ""}
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login")
def login_form(request: Request, next: str | None = None, bye: int = 0) -> Response:
    target = safe_next(next)
    if current_operator(request) is not None:
        return RedirectResponse(target, status_code=303)
    if bye:
        flash(request, "login.logged_out")
    return _login_page(request, next_path=target)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    try:
        await check_csrf(request)
    except CsrfRejected:
        session_of(request).pop("csrf", None)
        return _login_page(request, next_path=target, error="login.expired", status_code=403)
    address = request.client.host if request.client else "-"
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    if throttle.blocked(username, address):
        return _login_page(request, next_path=target, error="login.throttled", status_code=429)
    operator = auth.authenticate(runtime_of(request).engine, username=username, password=password)
    if operator is None:
        throttle.failed(username, address)
        return _login_page(request, next_path=target, error="login.failed", status_code=401)
    throttle.succeeded(username, address)
    session = session_of(request)
    session.clear()
    session.update(auth.login_session(codec_of(request), operator))
    return RedirectResponse(target, status_code=303)


@router.get("/logout")
def logout_form(request: Request, operator: Viewer) -> Response:
    return render(request, "logout.html")


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    session_of(request).clear()
    return RedirectResponse("/login?bye=1", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    """Remember the language in a cookie and go back where the switch was clicked."""
    if code not in CATALOGUES:
        return RedirectResponse(safe_next(next), status_code=303)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, code, max_age=LANG_COOKIE_MAX_AGE, httponly=True, samesite="lax", path="/"
    )
    return response


def _cards(data: Overview) -> list[dict[str, Any]]:
    totals = data.totals()
    return [
        {
            "key": key,
            "label": f"metric.{key}",
            "help": f"metric.help.{key}",
            "value": totals[total],
            "reads": reads,
            "percent": percent,
        }
        for key, _series, total, reads, percent in _CARDS
    ]


def _chart_data(data: Overview) -> dict[str, Any]:
    series = data.as_json()["series"]
    return {
        "dates": [point["date"] for point in series],
        "series": {
            key: [point[field] if field != "revenue" else float(point[field]) for point in series]
            for key, field, _total, _reads, _percent in _CARDS
        },
        "percent": [key for key, *_rest, percent in _CARDS if percent],
    }


@router.get("/")
def overview_page(request: Request, operator: Viewer) -> Response:
    settings = settings_of(request)
    today = datetime.now(settings.tz).date()
    with runtime_of(request).warehouse() as wh:
        data = overview(wh, end=today, days=OVERVIEW_DAYS)
    empty = not any(p.active_users or p.new_users for p in data.days)
    context = {
        "days": OVERVIEW_DAYS,
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
        "timezone": settings.timezone,
        "cards": _cards(data),
        "chart_data": _chart_data(data),
        "empty": empty,
    }
    return render(request, "overview.html", context)
