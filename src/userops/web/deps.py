"""What every console page depends on: the runtime, the signed-in operator, the role a page
needs, the CSRF check of every form, and the language of the reply.

A page declares its permission with `Depends(require("admin"))` (or the `Viewer`/`Admin`
aliases); an anonymous visitor is sent to /login, an operator without the permission gets the
403 page. Every unsafe request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token,
as the `csrf_token` form field or the `X-CSRF-Token` header (htmx sends the header, set with
hx-headers on <body>).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from userops.domain.roles import Permission, allows
from userops.services import auth
from userops.services.auth import OperatorInfo
from userops.services.runtime import Runtime
from userops.settings import Settings
from userops.web.i18n import LANG_COOKIE, choose_locale

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No operator is signed in; the reply sends the browser to /login."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The signed-in operator's role lacks the permission the page needs."""

    def __init__(self, operator: OperatorInfo, permission: Permission):
        super().__init__(f"{operator.username} ({operator.role}) lacks {permission}")
        self.operator = operator
        self.permission = permission


class CsrfRejected(Exception):
    """An unsafe request without the session's CSRF token."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def codec_of(request: Request) -> auth.SessionCodec:
    return auth.session_codec(settings_of(request).resolved_secret_key())


def session_of(request: Request) -> dict[str, Any]:
    session: dict[str, Any] = request.session
    return session


def locale_of(request: Request) -> str:
    return choose_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def current_operator(request: Request) -> OperatorInfo | None:
    """The operator of this request's session, looked up once per request."""
    if not hasattr(request.state, "operator"):
        request.state.operator = auth.session_operator(
            runtime_of(request).engine, codec_of(request), session_of(request)
        )
    operator: OperatorInfo | None = request.state.operator
    return operator


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created (with the session) on first use."""
    session = session_of(request)
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = auth.new_csrf_token()
        session["csrf"] = token
    return token


def _next_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def require(permission: Permission) -> Callable[[Request], OperatorInfo]:
    """A dependency giving the signed-in operator when their role holds `permission`."""

    def dependency(request: Request) -> OperatorInfo:
        operator = current_operator(request)
        if operator is None:
            raise LoginRequired(_next_path(request) if request.method == "GET" else "/")
        if not allows(operator.role, permission):
            raise Forbidden(operator, permission)
        return operator

    dependency.__name__ = f"require_{permission}"
    return dependency


async def csrf_given(request: Request) -> str | None:
    header = request.headers.get(auth.CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(auth.CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request whose CSRF token is missing or not the session's."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session_of(request).get("csrf")
    if not auth.csrf_matches(expected, await csrf_given(request)):
        raise CsrfRejected()


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target inside this site only (no scheme, host or protocol-relative path)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(char) < 32 for char in value):
        return default
    return value


Viewer = Annotated[OperatorInfo, Depends(require("view"))]
Analyst = Annotated[OperatorInfo, Depends(require("analyse"))]
"""Analysts and above: they preview segments and tag changes, and save segments."""
Admin = Annotated[OperatorInfo, Depends(require("admin"))]
