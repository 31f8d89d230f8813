"""What every JSON API route of the console depends on: the signed-in operator and the role a
route needs, from the console's session cookie, and the CSRF header on every write.

The API answers 401 when nobody is signed in, 403 when the role lacks the permission or a write
lacks the session's `X-CSRF-Token` header (GET /api/me returns the token). Both dependencies use
FastAPI's security classes so /openapi.json documents the cookie and the header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
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


def _where(loc: Sequence[Any]) -> str:
    """`body.levels[1].threshold`, `query.offset`: the place of a bad part of a request."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _problem(error: Mapping[str, Any]) -> str:
    """One line for one of FastAPI's validation errors: where, then what is wrong."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed")
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"body: not valid JSON ({reason}{at})"
    if kind == "missing" and loc == ("body",):
        return "body: a JSON object is required"
    return f"{_where(loc)}: {error.get('msg', 'invalid')}"


async def invalid_request(request: Request, exc: Exception) -> Response:
    """The JSON API's reply to a request FastAPI could not validate (a bad or unknown field, a
    query parameter out of range, malformed JSON): a 400 like every other refusal, whose
    `detail` is one line naming the first problem (`body.amount: Input should be greater than
    0`), and `errors` listing each one (where, what, its type) without echoing the input.

    Other paths (the console's pages) keep FastAPI's own answer.
    """
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/api/"):
        return await request_validation_exception_handler(request, exc)
    errors = list(exc.errors())
    problems = [_problem(error) for error in errors]
    detail = problems[0] if problems else "the request is not valid"
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more: see errors)"
    return JSONResponse(
        {
            "detail": detail,
            "errors": [
                {
                    "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
                    "msg": problem,
                    "type": e.get("type"),
                }
                for e, problem in zip(errors, problems, strict=True)
            ],
        },
        status_code=status.HTTP_400_BAD_REQUEST,
    )


REFUSAL_SCHEMA: dict[str, Any] = {
    "title": "Refusal",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What is wrong, in one line."},
        "errors": {
            "type": "array",
            "description": "Every problem of a request that could not be validated.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def document_refusals(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the JSON API's validation failures as what they are: 400
    `Refusal`s (FastAPI lists a 422 `HTTPValidationError` for every route with parameters).
    Idempotent: it changes the cached document in place and returns it."""
    refusal = {
        "description": "Bad request: `detail` names what is wrong",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", refusal)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Refusal", REFUSAL_SCHEMA)
    if "#/components/schemas/HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


Viewer = Annotated[OperatorInfo, Depends(require("view"))]
Admin = Annotated[OperatorInfo, Depends(require("admin"))]
