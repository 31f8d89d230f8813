"""Incentive rules (激励规则): the list (pause and resume in place), and the editor: event,
property filters, points and growth value (fixed or per amount), level multiplier, caps,
maturity and expiry, start and end."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.domain.membership.incentives import AMOUNT_MODES, CAP_PERIODS
from userops.errors import InputError
from userops.membership import editing, levels, rules
from userops.membership.rules import RuleInfo
from userops.web.deps import Viewer
from userops.web.membership.common import PREFIX, Changer, engine_of, is_htmx, tz_of
from userops.web.membership.forms import (
    filter_text,
    form_data,
    moment_value,
    rule_fields,
    text,
)
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)

Form = Annotated[FormData, Depends(form_data)]

RULE_FIELDS = (
    "code",
    "name",
    "event",
    "filters",
    "points_mode",
    "points_value",
    "growth_mode",
    "growth_value",
    "unit_cents",
    "multiplier_scheme",
    "cap_period",
    "points_cap_day",
    "points_cap_period",
    "points_cap_lifetime",
    "growth_cap_day",
    "growth_cap_period",
    "growth_cap_lifetime",
    "maturity_days",
    "expiry",
    "reference_property",
    "starts_at",
    "ends_at",
)


def _blank() -> dict[str, Any]:
    form: dict[str, Any] = dict.fromkeys(RULE_FIELDS, "")
    form.update(
        points_mode="fixed",
        growth_mode="none",
        unit_cents="100",
        cap_period="month",
        maturity_days="0",
        expiry="never",
        reference_property="order_id",
    )
    return form


def _form_of(info: RuleInfo, request: Request) -> dict[str, Any]:
    doc = info.as_json()
    tz = tz_of(request)

    def shown(value: int | None) -> str:
        return "" if value is None else str(value)

    unit = (
        doc["points"]["unit_cents"]
        if doc["points"]["mode"] != "none"
        else doc["growth"]["unit_cents"]
    )
    return {
        "code": doc["code"],
        "name": doc["name"],
        "event": doc["event"],
        "filters": "\n".join(filter_text(f) for f in doc["filters"]),
        "points_mode": doc["points"]["mode"],
        "points_value": shown(doc["points"]["value"] or None),
        "growth_mode": doc["growth"]["mode"],
        "growth_value": shown(doc["growth"]["value"] or None),
        "unit_cents": str(unit),
        "multiplier_scheme": doc["multiplier_scheme"] or "",
        "cap_period": doc["cap_period"],
        **{f"points_cap_{k}": shown(v) for k, v in doc["points_caps"].items()},
        **{f"growth_cap_{k}": shown(v) for k, v in doc["growth_caps"].items()},
        "maturity_days": str(doc["maturity_days"]),
        "expiry": doc["expiry"],
        "reference_property": doc["reference_property"] or "",
        "starts_at": moment_value(info.rule.starts_at, tz),
        "ends_at": moment_value(info.rule.ends_at, tz),
    }


def _form_as_sent(form: FormData) -> dict[str, Any]:
    return {name: str(form.get(name) or "") for name in RULE_FIELDS}


def _editor(
    request: Request,
    *,
    rule: RuleInfo | None,
    form: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "tab": "rules",
        "rule": rule,
        "form": form,
        "error": error,
        "modes": AMOUNT_MODES,
        "cap_periods": CAP_PERIODS,
        "schemes": levels.list_schemes(engine_of(request)),
    }
    return render(request, "membership/rule.html", context, status_code=status_code)


def _find(request: Request, code: str) -> RuleInfo | None:
    return next((r for r in rules.list_rules(engine_of(request)) if r.rule.code == code), None)


def _not_found(request: Request) -> Response:
    return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)


@router.get("/rules")
def rules_page(request: Request, operator: Viewer) -> Response:
    context = {"tab": "rules", "rules": rules.list_rules(engine_of(request))}
    return render(request, "membership/rules.html", context)


@router.get("/rules/new")
def new_rule_page(request: Request, operator: Changer) -> Response:
    return _editor(request, rule=None, form=_blank())


@router.post("/rules")
def create_rule(request: Request, operator: Changer, form: Form) -> Response:
    try:
        created = rules.create_rule(
            engine_of(request),
            code=text(form, "code", limit=64),
            actor=operator.username,
            **rule_fields(form, tz_of(request)),
        )
    except InputError as exc:
        return _editor(
            request, rule=None, form=_form_as_sent(form), error=str(exc), status_code=400
        )
    flash(request, "membership.rule.created", code=created.rule.code)
    return RedirectResponse("/membership/rules", status_code=303)


@router.get("/rules/{code}")
def rule_page(request: Request, code: str, operator: Viewer) -> Response:
    found = _find(request, code)
    if found is None:
        return _not_found(request)
    return _editor(request, rule=found, form=_form_of(found, request))


@router.post("/rules/{code}")
def update_rule(request: Request, code: str, operator: Changer, form: Form) -> Response:
    found = _find(request, code)
    if found is None:
        return _not_found(request)
    try:
        editing.update_rule(
            engine_of(request),
            code=code,
            actor=operator.username,
            **rule_fields(form, tz_of(request)),
        )
    except InputError as exc:
        sent = {**_form_as_sent(form), "code": code}
        return _editor(request, rule=found, form=sent, error=str(exc), status_code=400)
    flash(request, "membership.rule.saved", code=code)
    return RedirectResponse("/membership/rules", status_code=303)


@router.post("/rules/{code}/active")
def set_active(request: Request, code: str, operator: Changer, form: Form) -> Response:
    """Pause or resume a rule; htmx gets the rule's row back, a plain post the list."""
    active = form.get("active") == "1"
    try:
        changed = rules.set_rule_active(
            engine_of(request), code=code, active=active, actor=operator.username
        )
    except InputError:
        return _not_found(request)
    if is_htmx(request):
        return render(request, "membership/_rule_row.html", {"rule": changed})
    flash(request, "membership.rule.resumed" if active else "membership.rule.paused", code=code)
    return RedirectResponse("/membership/rules", status_code=303)
