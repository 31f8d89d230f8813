"""Level schemes (等级体系): the list, the editor (policy, window, keep period, notice, levels
and their thresholds) and the benefits each level grants (权益)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.domain.membership.benefits import BENEFIT_KINDS, QUOTA_PERIODS
from userops.domain.membership.levels import POLICIES
from userops.errors import InputError
from userops.membership import benefits, editing, levels
from userops.web.deps import Viewer
from userops.web.membership.common import PREFIX, Changer, engine_of
from userops.web.membership.forms import form_data, scheme_fields, text, whole
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)

Form = Annotated[FormData, Depends(form_data)]
SPARE_ROWS = 2
MIN_ROWS = 4


def _level_rows(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blank = {"code": "", "name": "", "threshold": "", "invite_only": False}
    spare = max(SPARE_ROWS, MIN_ROWS - len(specs))
    return [*specs, *(dict(blank) for _ in range(spare))]


def _form_of(scheme: levels.SchemeInfo | None) -> dict[str, Any]:
    if scheme is None:
        return {
            "code": "",
            "name": "",
            "policy": "only_up",
            "window_months": "",
            "keep_days": "0",
            "notice_days": "0",
            "is_active": True,
            "levels": _level_rows([]),
        }
    return {
        "code": scheme.code,
        "name": scheme.name,
        "policy": scheme.policy.policy,
        "window_months": scheme.policy.window_months or "",
        "keep_days": scheme.policy.keep_days,
        "notice_days": scheme.policy.notice_days,
        "is_active": scheme.is_active,
        "levels": _level_rows(
            [
                {
                    "code": lv.code,
                    "name": lv.name,
                    "threshold": lv.threshold,
                    "invite_only": lv.invite_only,
                }
                for lv in scheme.levels
            ]
        ),
    }


def _form_as_sent(form: FormData) -> dict[str, Any]:
    """The form as the operator filled it in, to show it again with the error."""
    codes, names = form.getlist("level_code"), form.getlist("level_name")
    thresholds, kinds = form.getlist("level_threshold"), form.getlist("level_kind")
    rows = [
        {
            "code": str(code),
            "name": str(names[i]) if i < len(names) else "",
            "threshold": str(thresholds[i]) if i < len(thresholds) else "",
            "invite_only": (str(kinds[i]) if i < len(kinds) else "") == "invite_only",
        }
        for i, code in enumerate(codes)
        if str(code).strip()
    ]
    return {
        "code": str(form.get("code") or ""),
        "name": str(form.get("name") or ""),
        "policy": str(form.get("policy") or "only_up"),
        "window_months": str(form.get("window_months") or ""),
        "keep_days": str(form.get("keep_days") or ""),
        "notice_days": str(form.get("notice_days") or ""),
        "is_active": form.get("is_active", "1") == "1",
        "levels": _level_rows(rows),
    }


def _editor(
    request: Request,
    *,
    scheme: levels.SchemeInfo | None,
    form: dict[str, Any],
    error: str | None = None,
    benefit_error: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = engine_of(request)
    catalogue = benefits.list_benefits(engine) if scheme else []
    context = {
        "tab": "schemes",
        "scheme": scheme,
        "form": form,
        "error": error,
        "benefit_error": benefit_error,
        "policies": POLICIES,
        "catalogue": benefits.catalogue(engine, scheme=scheme.code) if scheme else [],
        "benefits": catalogue,
        "benefit_names": {b.code: b.name for b in catalogue},
        "benefit_kinds": BENEFIT_KINDS,
        "quota_periods": QUOTA_PERIODS,
    }
    return render(request, "membership/scheme.html", context, status_code=status_code)


@router.get("/schemes")
def schemes_page(request: Request, operator: Viewer) -> Response:
    context = {"tab": "schemes", "schemes": levels.list_schemes(engine_of(request))}
    return render(request, "membership/schemes.html", context)


@router.get("/schemes/new")
def new_scheme_page(request: Request, operator: Changer) -> Response:
    return _editor(request, scheme=None, form=_form_of(None))


@router.post("/schemes")
def create_scheme(request: Request, operator: Changer, form: Form) -> Response:
    try:
        fields = scheme_fields(form)
        created = levels.create_scheme(
            engine_of(request), code=text(form, "code", limit=64), actor=operator.username, **fields
        )
    except InputError as exc:
        return _editor(
            request, scheme=None, form=_form_as_sent(form), error=str(exc), status_code=400
        )
    flash(request, "membership.scheme.created", code=created.code)
    return RedirectResponse(f"/membership/schemes/{created.code}", status_code=303)


def _scheme_or_404(request: Request, code: str) -> levels.SchemeInfo | Response:
    try:
        return levels.get_scheme(engine_of(request), code=code)
    except InputError:
        return render(request, "error.html", {"status": 404, "kind": "not_found"}, status_code=404)


@router.get("/schemes/{code}")
def scheme_page(request: Request, code: str, operator: Viewer) -> Response:
    found = _scheme_or_404(request, code)
    if isinstance(found, Response):
        return found
    return _editor(request, scheme=found, form=_form_of(found))


@router.post("/schemes/{code}")
def update_scheme(request: Request, code: str, operator: Changer, form: Form) -> Response:
    found = _scheme_or_404(request, code)
    if isinstance(found, Response):
        return found
    try:
        editing.update_scheme(
            engine_of(request),
            code=code,
            is_active=form.get("is_active", "1") == "1",
            actor=operator.username,
            **scheme_fields(form),
        )
    except InputError as exc:
        sent = {**_form_as_sent(form), "code": code}
        return _editor(request, scheme=found, form=sent, error=str(exc), status_code=400)
    flash(request, "membership.scheme.saved", code=code)
    return RedirectResponse(f"/membership/schemes/{code}", status_code=303)


# Benefits -----------------------------------------------------------------------------------


def _benefit_change(
    request: Request, code: str, change: Any, message: str, **values: str
) -> Response:
    found = _scheme_or_404(request, code)
    if isinstance(found, Response):
        return found
    try:
        change()
    except InputError as exc:
        return _editor(
            request, scheme=found, form=_form_of(found), benefit_error=str(exc), status_code=400
        )
    flash(request, message, **values)
    return RedirectResponse(f"/membership/schemes/{code}#benefits", status_code=303)


@router.post("/schemes/{code}/benefits")
def grant_benefit(request: Request, code: str, operator: Changer, form: Form) -> Response:
    def change() -> None:
        quota = whole(form, "quota", minimum=0, label="the quota")
        period = text(form, "period") or None
        if quota is not None and period is None:
            raise InputError("a quota needs a period (day, week, month, year or lifetime)")
        benefits.grant_benefit(
            engine_of(request),
            scheme=code,
            level=text(form, "level", limit=64),
            benefit=text(form, "benefit", limit=64),
            value=whole(form, "value", default=0, minimum=0, label="the value") or 0,
            quota=quota,
            period=period if quota is not None else None,  # type: ignore[arg-type]
            actor=operator.username,
        )

    return _benefit_change(
        request, code, change, "membership.benefit.granted", benefit=text(form, "benefit")
    )


@router.post("/schemes/{code}/benefits/revoke")
def revoke_benefit(request: Request, code: str, operator: Changer, form: Form) -> Response:
    return _benefit_change(
        request,
        code,
        lambda: benefits.revoke_benefit(
            engine_of(request),
            scheme=code,
            level=text(form, "level", limit=64),
            benefit=text(form, "benefit", limit=64),
            actor=operator.username,
        ),
        "membership.benefit.revoked",
        benefit=text(form, "benefit"),
    )


@router.post("/schemes/{code}/catalogue")
def add_to_catalogue(request: Request, code: str, operator: Changer, form: Form) -> Response:
    return _benefit_change(
        request,
        code,
        lambda: benefits.create_benefit(
            engine_of(request),
            code=text(form, "benefit_code", limit=64),
            name=text(form, "benefit_name"),
            kind=text(form, "kind", limit=32),
            description=text(form, "description", limit=2000) or None,
            actor=operator.username,
        ),
        "membership.benefit.created",
        benefit=text(form, "benefit_code"),
    )
