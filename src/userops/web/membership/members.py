"""A member's page: points balance, pending points, lots and their expiry, the ledger (paged),
growth value, levels and level history, benefits entitled and used, badges; and the operator's
actions on the balance (award, redeem, adjust).

The panel is also served alone, `/membership/members/{user_id}/panel`, an HTMX fragment the
user 360 (/profiles/users/{user_id}) includes: its pager and its forms swap the panel in place
wherever it is shown. Each action form carries an idempotency key made when the form was
drawn, so a form sent twice (a double click, a retry) moves the balance once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.errors import InputError
from userops.membership import members, points, rules
from userops.membership.points import PointsResult
from userops.web.deps import Viewer
from userops.web.membership.common import PREFIX, Changer, engine_of, is_htmx, tz_of
from userops.web.membership.forms import form_data, required_whole, text, whole
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)

Form = Annotated[FormData, Depends(form_data)]
PAGE_SIZE = 20
ACTIONS = ("award", "redeem", "adjust")


def new_key() -> str:
    """The idempotency key of one drawn action form."""
    return f"console-{uuid.uuid4().hex}"


def member_path(user_id: str) -> str:
    return f"/membership/members/{quote(user_id, safe='')}"


def _panel_context(
    request: Request,
    user_id: str,
    *,
    page: int = 1,
    error: tuple[str, str] | None = None,
    done: dict[str, Any] | None = None,
    sent: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    engine = engine_of(request)
    page = max(page, 1)
    found = members.summary(engine, user_id=user_id, tz=tz_of(request))
    entries = points.statement(
        engine, user_id=user_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    codes = {r.rule.id: r.rule.code for r in rules.list_rules(engine)}
    return {
        "member": found,
        "entries": entries[:PAGE_SIZE],
        "page": page,
        "has_more": len(entries) > PAGE_SIZE,
        "rule_codes": codes,
        "base": member_path(found.user_id),
        "keys": {action: new_key() for action in ACTIONS},
        "action_error": error,
        "done": done,
        "sent": sent or {},
    }


def _panel(request: Request, user_id: str, **values: Any) -> Response:
    return render(
        request, "membership/_member_panel.html", _panel_context(request, user_id, **values)
    )


def _page(request: Request, user_id: str, *, status_code: int = 200, **values: Any) -> Response:
    context = {"tab": "members", **_panel_context(request, user_id, **values)}
    return render(request, "membership/member.html", context, status_code=status_code)


@router.get("/members")
def find_member(request: Request, operator: Viewer, user_id: str | None = None) -> Response:
    wanted = (user_id or "").strip()
    if wanted:
        return RedirectResponse(member_path(wanted), status_code=303)
    return render(request, "membership/members.html", {"tab": "members"})


def _checked(request: Request, user_id: str) -> Response | None:
    try:
        points.check_user(user_id)
    except InputError:
        return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)
    return None


@router.get("/members/{user_id:path}/panel")
def member_panel(request: Request, user_id: str, operator: Viewer, page: int = 1) -> Response:
    return _checked(request, user_id) or _panel(request, user_id, page=page)


@router.get("/members/{user_id:path}")
def member_page(request: Request, user_id: str, operator: Viewer, page: int = 1) -> Response:
    return _checked(request, user_id) or _page(request, user_id, page=page)


def _act(
    request: Request,
    user_id: str,
    action: str,
    form: FormData,
    run: Callable[[], PointsResult],
) -> Response:
    """Run one points action; answer htmx with the panel, a plain post with the page."""
    refused = _checked(request, user_id)
    if refused is not None:
        return refused
    try:
        result = run()
    except InputError as exc:
        sent = {action: {k: str(v) for k, v in form.items() if k != "csrf_token"}}
        values: dict[str, Any] = {"error": (action, str(exc)), "sent": sent}
        if is_htmx(request):
            return _panel(request, user_id, **values)
        return _page(request, user_id, status_code=400, **values)
    moved = sum(e.amount for e in result.entries)
    available = result.balance.available
    if is_htmx(request):
        done = {
            "action": action,
            "replayed": result.replayed,
            "amount": moved,
            "available": available,
        }
        return _panel(request, user_id, done=done)
    key = "membership.member.replayed" if result.replayed else f"membership.member.{action}_done"
    flash(request, key, amount=f"{abs(moved):,}", available=f"{available:,}")
    return RedirectResponse(member_path(user_id), status_code=303)


@router.post("/members/{user_id:path}/award")
def award(request: Request, user_id: str, operator: Changer, form: Form) -> Response:
    def run() -> PointsResult:
        return members.award(
            engine_of(request),
            user_id=user_id,
            amount=required_whole(form, "amount", label="the points"),
            key=text(form, "key"),
            reason=text(form, "reason", limit=500) or None,
            expiry=text(form, "expiry", limit=32) or "never",
            maturity_days=whole(form, "maturity_days", default=0, minimum=0, label="maturity") or 0,
            actor=operator.username,
            tz=tz_of(request),
        )

    return _act(request, user_id, "award", form, run)


@router.post("/members/{user_id:path}/redeem")
def redeem(request: Request, user_id: str, operator: Changer, form: Form) -> Response:
    def run() -> PointsResult:
        return members.redeem(
            engine_of(request),
            user_id=user_id,
            amount=required_whole(form, "amount", label="the points"),
            key=text(form, "key"),
            reference=text(form, "reference") or None,
            reason=text(form, "reason", limit=500) or None,
            actor=operator.username,
        )

    return _act(request, user_id, "redeem", form, run)


@router.post("/members/{user_id:path}/adjust")
def adjust(request: Request, user_id: str, operator: Changer, form: Form) -> Response:
    def run() -> PointsResult:
        return members.adjust(
            engine_of(request),
            user_id=user_id,
            amount=required_whole(form, "amount", label="the points"),
            key=text(form, "key"),
            reason=text(form, "reason", limit=500),
            actor=operator.username,
            tz=tz_of(request),
        )

    return _act(request, user_id, "adjust", form, run)
