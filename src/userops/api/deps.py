"""What every JSON API route of the console depends on: the signed-in operator and the role a
route needs, from the console's session cookie, and the CSRF header on every write.

The API answers 401 when nobody is signed in, 403 when the role lacks the permission or a write
lacks the session's `X-CSRF-Token` header (GET /api/me returns the token). Both dependencies use
FastAPI's security classes so /openapi.json documents the cookie and the header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, APIKeyHeader
from starlette.responses import Response

from userops.domain.roles import Permission, allows
from userops.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from userops.services import auth
from userops.services.auth import OperatorInfo
from userops.services.runtime import Runtime
from userops.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

session_cookie = APIKeyCookie(
    name=auth.SESSION_COOKIE,
    auto_error=False,
    description="The console's session cookie, set by signing in at /login.",
)
csrf_header = APIKeyHeader(
    name=auth.CSRF_HEADER,
    auto_error=False,
    description="The session's CSRF token (GET /api/me returns it); required on every write.",
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def api_session(
    request: Request, cookie: Annotated[str | None, Depends(session_cookie)]
) -> dict[str, Any]:
    """The session in the cookie, read afresh (the API never changes it)."""
    codec = auth.session_codec(settings_of(request).resolved_secret_key())
    return codec.loads(cookie)


CookieSession = Annotated[dict[str, Any], Depends(api_session)]


def signed_in(request: Request, session: CookieSession) -> OperatorInfo:
    codec = auth.session_codec(settings_of(request).resolved_secret_key())
    operator = auth.session_operator(runtime_of(request).engine, codec, session)
    if operator is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in at /login first; the API uses the console's session cookie",
        )
    return operator


def require(permission: Permission) -> Callable[..., OperatorInfo]:
    """A dependency giving the signed-in operator when their role holds `permission`."""

    def dependency(operator: Annotated[OperatorInfo, Depends(signed_in)]) -> OperatorInfo:
        if not allows(operator.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {operator.role!r} may not do this; it needs the {permission!r} permission",
            )
        return operator

    dependency.__name__ = f"require_{permission}"
    return dependency


def check_csrf(
    request: Request,
    session: CookieSession,
    token: Annotated[str | None, Depends(csrf_header)],
) -> None:
    """Refuse a write whose X-CSRF-Token header is not the session's token.

    Without a signed-in session there is nothing to forge: the route's auth answers 401.
    """
    if "op" not in session:
        return
    if request.method in UNSAFE_METHODS and not auth.csrf_matches(session.get("csrf"), token):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"missing or wrong {auth.CSRF_HEADER} header; GET /api/me returns the token",
        )


def refusal_status(exc: InputError) -> int:
    """The HTTP status of a refused request: 404 unknown thing, 403 not for this role, 409
    conflict, else 400."""
    if isinstance(exc, NotFoundError):
        return status.HTTP_404_NOT_FOUND
    if isinstance(exc, ForbiddenError):
        return status.HTTP_403_FORBIDDEN
    if isinstance(exc, ConflictError):
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


def refused(_request: Request, exc: Exception) -> Response:
    """The app's reply to an `InputError` a route let through: `{"detail": message}`.

    Routes call services and let their InputErrors rise; this handler (installed by
    `userops.api.install`) turns each into one JSON refusal, so no route repeats a try/except.
    """
    assert isinstance(exc, InputError)
    return JSONResponse({"detail": str(exc)}, status_code=refusal_status(exc))


Viewer = Annotated[OperatorInfo, Depends(require("view"))]
Admin = Annotated[OperatorInfo, Depends(require("admin"))]
