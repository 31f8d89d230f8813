"""The JSON API for who is signed in, operator accounts and the audit log.

GET /api/me is open to every signed-in operator; everything else about accounts is admin only.
Changes go through `services.auth`, which writes the audit entry naming the signed-in admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field

from userops.api.bodies import RequestBody
from userops.api.deps import Admin, CookieSession, Viewer, check_csrf, runtime_of
from userops.domain.roles import Permission, Role, permissions_of
from userops.services import auth
from userops.services.auth import OperatorInfo
from userops.store.audit import MAX_PAGE

router = APIRouter(prefix="/api", tags=["operators"], dependencies=[Depends(check_csrf)])


class OperatorOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, operator: OperatorInfo) -> OperatorOut:
        return cls.model_validate(operator.as_json())


class MeOut(OperatorOut):
    permissions: list[Permission] = Field(description="What this operator's role allows.")
    csrf_token: str = Field(description="Send it as the X-CSRF-Token header on every write.")


class OperatorCreate(RequestBody):
    username: str = Field(min_length=1, max_length=64, examples=["alice"])
    password: str = Field(min_length=auth.PASSWORD_MIN, max_length=auth.PASSWORD_MAX)
    role: Role = "viewer"
    display_name: str = Field(default="", max_length=200)


class RoleChange(RequestBody):
    role: Role


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="An operator's username, `cli` or `system`.")
    action: str = Field(examples=["operators.create"])
    target: str | None
    detail: dict[str, Any]


@router.get("/me", response_model=MeOut, summary="The signed-in operator")
def me(operator: Viewer, session: CookieSession) -> MeOut:
    return MeOut.model_validate(
        {
            **operator.as_json(),
            "permissions": list(permissions_of(operator.role)),
            "csrf_token": session.get("csrf", ""),
        }
    )


@router.get("/operators", response_model=list[OperatorOut], summary="List operators")
def list_operators(request: Request, operator: Admin) -> list[OperatorOut]:
    return [OperatorOut.of(op) for op in auth.list_operator_accounts(runtime_of(request).engine)]


@router.post(
    "/operators",
    response_model=OperatorOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add an operator",
)
def create_operator(request: Request, operator: Admin, body: OperatorCreate) -> OperatorOut:
    created = auth.create_operator_account(
        runtime_of(request).engine,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        actor=operator.username,
    )
    return OperatorOut.of(created)


@router.patch(
    "/operators/{username:path}/role", response_model=OperatorOut, summary="Change a role"
)
def set_role(request: Request, username: str, operator: Admin, body: RoleChange) -> OperatorOut:
    changed = auth.change_role(
        runtime_of(request).engine, username=username, role=body.role, actor=operator.username
    )
    return OperatorOut.of(changed)


@router.post(
    "/operators/{username:path}/deactivate",
    response_model=OperatorOut,
    summary="Stop an operator from signing in",
)
def deactivate(request: Request, username: str, operator: Admin) -> OperatorOut:
    changed = auth.deactivate_operator_account(
        runtime_of(request).engine, username=username, actor=operator.username
    )
    return OperatorOut.of(changed)


@router.post(
    "/operators/{username:path}/reactivate",
    response_model=OperatorOut,
    summary="Let a deactivated operator sign in again",
)
def reactivate(request: Request, username: str, operator: Admin) -> OperatorOut:
    changed = auth.reactivate_operator_account(
        runtime_of(request).engine, username=username, actor=operator.username
    )
    return OperatorOut.of(changed)


@router.get("/audit", response_model=list[AuditEntryOut], summary="The audit log, newest first")
def audit_log(
    request: Request,
    operator: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditEntryOut]:
    entries = auth.list_audit_entries(runtime_of(request).engine, limit=limit, offset=offset)
    return [
        AuditEntryOut(
            id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail
        )
        for e in entries
    ]
