"""Admin pages: operator accounts (add, change role, deactivate, reactivate), write keys for the
ingestion API (create, revoke) and the audit log.

Every route here needs the admin permission; every change goes through `services.auth`, which
writes the audit entry. The row actions answer htmx with the updated table row, and a plain form
post with a redirect back to the list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from userops.domain.roles import ROLES
from userops.errors import InputError
from userops.services import auth, keys
from userops.services.auth import OperatorInfo
from userops.web.deps import Admin, check_csrf, runtime_of
from userops.web.rendering import flash, render

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_csrf)])

AUDIT_PAGE_SIZE = 50


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _operators_page(
    request: Request,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    operators = auth.list_operator_accounts(runtime_of(request).engine)
    context = {
        "operators": operators,
        "roles": ROLES,
        "error": error,
        "form": form or {"username": "", "display_name": "", "role": "viewer"},
    }
    return render(request, "admin_operators.html", context, status_code=status_code)


@router.get("/operators")
def operators_page(request: Request, operator: Admin) -> Response:
    return _operators_page(request)


@router.post("/operators")
def create_operator(
    request: Request,
    operator: Admin,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    try:
        created = auth.create_operator_account(
            runtime_of(request).engine,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            actor=operator.username,
        )
    except InputError as exc:
        form = {"username": username, "display_name": display_name, "role": role}
        return _operators_page(request, error=str(exc), form=form, status_code=400)
    flash(request, "admin.created", name=created.username)
    return RedirectResponse("/admin/operators", status_code=303)


def _row_action(
    request: Request,
    change: Callable[[], OperatorInfo],
    message: str,
    **values: str,
) -> Response:
    """Run one change to an operator; reply with its row (htmx) or the list (plain post)."""
    error: str | None = None
    try:
        changed = change()
    except InputError as exc:
        error = str(exc)
        changed = None
    if not _is_htmx(request):
        if error is not None:
            return _operators_page(request, error=error, status_code=400)
        flash(request, message, name=changed.username if changed else "", **values)
        return RedirectResponse("/admin/operators", status_code=303)
    row = changed or auth.find_operator_account(
        runtime_of(request).engine, username=request.path_params["username"]
    )
    if row is None:
        return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)
    context = {"op": row, "roles": ROLES, "row_error": error}
    return render(request, "_operator_row.html", context)


@router.post("/operators/{username:path}/role")
def set_role(
    request: Request, username: str, operator: Admin, role: Annotated[str, Form()] = ""
) -> Response:
    engine = runtime_of(request).engine
    return _row_action(
        request,
        lambda: auth.change_role(engine, username=username, role=role, actor=operator.username),
        "admin.role_changed",
        role=role,
    )


@router.post("/operators/{username:path}/deactivate")
def deactivate(request: Request, username: str, operator: Admin) -> Response:
    engine = runtime_of(request).engine
    return _row_action(
        request,
        lambda: auth.deactivate_operator_account(
            engine, username=username, actor=operator.username
        ),
        "admin.deactivated",
    )


@router.post("/operators/{username:path}/reactivate")
def reactivate(request: Request, username: str, operator: Admin) -> Response:
    engine = runtime_of(request).engine
    return _row_action(
        request,
        lambda: auth.reactivate_operator_account(
            engine, username=username, actor=operator.username
        ),
        "admin.reactivated",
    )


def _keys_page(
    request: Request,
    *,
    new_key: keys.NewWriteKey | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = runtime_of(request).engine
    names = {op.id: op.username for op in auth.list_operator_accounts(engine)}
    context = {
        "keys": keys.list_write_keys(engine),
        "creators": names,
        "new_key": new_key,
        "error": error,
    }
    return render(request, "admin_keys.html", context, status_code=status_code)


@router.get("/keys")
def keys_page(request: Request, operator: Admin) -> Response:
    return _keys_page(request)


@router.post("/keys")
def create_key(request: Request, operator: Admin, name: Annotated[str, Form()] = "") -> Response:
    """Create a key and show its secret on this reply only (never in a cookie or a redirect)."""
    try:
        created = keys.create_write_key(
            runtime_of(request).engine, name=name, actor=operator.username, created_by=operator.id
        )
    except InputError as exc:
        return _keys_page(request, error=str(exc), status_code=400)
    return _keys_page(request, new_key=created)


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: int, operator: Admin) -> Response:
    try:
        revoked = keys.revoke_write_key(
            runtime_of(request).engine, actor=operator.username, key_id=key_id
        )
    except InputError as exc:
        return _keys_page(request, error=str(exc), status_code=404)
    flash(request, "keys.revoked", name=revoked.name)
    return RedirectResponse("/admin/keys", status_code=303)


@router.get("/audit")
def audit_page(request: Request, operator: Admin, page: int = 1) -> Response:
    page = max(page, 1)
    entries = auth.list_audit_entries(
        runtime_of(request).engine,
        limit=AUDIT_PAGE_SIZE + 1,
        offset=(page - 1) * AUDIT_PAGE_SIZE,
    )
    context = {
        "entries": entries[:AUDIT_PAGE_SIZE],
        "page": page,
        "has_older": len(entries) > AUDIT_PAGE_SIZE,
    }
    return render(request, "admin_audit.html", context)
