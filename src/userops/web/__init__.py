"""The operators' console: server-rendered pages (Jinja2 + HTMX + ECharts, all vendored).

`install` adds to the app: the session middleware (signed cookie, security headers on pages),
/static (the package's static folder, no CDN), the pages (`pages`, `admin`) and the replies to
"sign in first" (303 to /login), "not allowed" (the 403 page) and "bad CSRF token" (403).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from userops.services.auth import LoginThrottle, session_codec
from userops.settings import Settings
from userops.web import admin, analytics, membership, pages, profiles
from userops.web.deps import CsrfRejected, Forbidden, LoginRequired, current_operator
from userops.web.middleware import ConsoleMiddleware
from userops.web.rendering import STATIC_DIR, render


def install(app: FastAPI, settings: Settings) -> None:
    """Add the console's routes, static files and middleware to the app."""
    app.add_middleware(ConsoleMiddleware, codec=session_codec(settings.resolved_secret_key()))
    app.state.login_throttle = LoginThrottle()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(analytics.router)
    app.include_router(membership.router)
    app.include_router(profiles.router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)


def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/login" if exc.next_path == "/" else f"/login?next={quote(exc.next_path, safe='/')}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    context = {"status": 403, "kind": "forbidden", "role": exc.operator.role}
    return render(request, "error.html", context, status_code=403)


def _csrf_rejected(request: Request, exc: Exception) -> Response:
    current_operator(request)  # the 403 page keeps the navigation of a signed-in operator
    return render(request, "error.html", {"status": 403, "kind": "csrf"}, status_code=403)
