"""The Tags tab (标签体系): the taxonomy tree (categories > sub-categories > tags), a tag's page
(definition, value distribution, the editor of a computed tag's parameters or a rule tag's
rule, each with a preview of the distribution before saving), new rule tags, and the refresh:
"refresh now" starts a background run whose status the page follows (htmx polling).

Every role reads; analysts preview; operators and admins save and refresh. A bad parameter or
rule is shown next to its form with the service's message, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.domain.audience import parse_rule_tag
from userops.errors import InputError
from userops.profiles import refresh, reports, tagvalues, taxonomy
from userops.profiles.reports import ValueCount
from userops.profiles.taxonomy import TagInfo
from userops.web.deps import Analyst, Viewer, runtime_of, safe_next
from userops.web.profiles.common import (
    PREFIX,
    Changer,
    Form,
    engine_of,
    field,
    guard_contact,
    is_htmx,
    named,
    not_found,
    t_of,
    today,
    tz_of,
)
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)

RUNS_SHOWN = 5
RULE_EXAMPLE = (
    '{"when": {"all": [{"event": "purchase", "within_days": 30, "op": ">=", "value": 2}]}}'
)


# -- the tree ---------------------------------------------------------------------------------


def _tree(request: Request) -> list[dict[str, Any]]:
    """First-level categories, each with its tags and its sub-categories (with theirs)."""
    engine = engine_of(request)
    tags = taxonomy.list_tags(engine)
    by_category: dict[str, list[TagInfo]] = {}
    for tag in tags:
        by_category.setdefault(tag.category, []).append(tag)
    tops: list[dict[str, Any]] = []
    for cat in taxonomy.list_categories(engine):
        entry = {
            "code": cat.code,
            "name": named(request, cat.name, cat.name_en, cat.code),
            "tags": by_category.get(cat.code, []),
            "subs": [],
        }
        if cat.parent is None:
            tops.append(entry)
        else:
            parent = next((t for t in tops if t["code"] == cat.parent), None)
            if parent is not None:
                parent["subs"].append(entry)
    return tops


def _runs(request: Request) -> list[refresh.RunInfo]:
    return refresh.list_runs(engine_of(request), limit=RUNS_SHOWN)


@router.get("")
def tags_page(request: Request, operator: Viewer) -> Response:
    context = {
        "tab": "tags",
        "tree": _tree(request),
        "runs": _runs(request),
        "tag_name": lambda t: named(request, t.name, t.name_en, t.code),
    }
    return render(request, "profiles/tags.html", context)


# -- refresh ----------------------------------------------------------------------------------


@router.post("/refresh")
def start_refresh(request: Request, operator: Changer, form: Form) -> Response:
    """Start a background refresh (of one tag when the form names it)."""
    tag = field(form, "tag", limit=64) or None
    back = safe_next(field(form, "next", limit=500), PREFIX)
    runtime = runtime_of(request)
    try:
        run_id = refresh.launch(
            runtime.engine,
            runtime.warehouse,
            today=today(request),
            tz=tz_of(request),
            tags=[tag] if tag else None,
            force=form.get("force") == "1",
            trigger=f"console:{operator.username}",
        )
    except InputError as exc:
        if is_htmx(request):
            return render(request, "profiles/_refresh_run.html", {"run": None, "error": str(exc)})
        flash(request, "profiles.refresh.refused", reason=str(exc))
        return RedirectResponse(back, status_code=303)
    if is_htmx(request):
        run = refresh.get_run(runtime.engine, run_id)
        return render(request, "profiles/_refresh_run.html", {"run": run, "error": None})
    flash(request, "profiles.refresh.started_flash", id=run_id)
    return RedirectResponse(back, status_code=303)


@router.get("/refresh/runs/{run_id}")
def refresh_run(request: Request, run_id: int, operator: Viewer) -> Response:
    """One run's status (htmx polls it every second while it runs)."""
    try:
        run = refresh.get_run(engine_of(request), run_id)
    except InputError:
        return not_found(request)
    return render(request, "profiles/_refresh_run.html", {"run": run, "error": None})


# -- a tag ------------------------------------------------------------------------------------


def _param_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def param_rows(
    info: TagInfo, params: dict[str, Any], sent: FormData | None
) -> list[dict[str, Any]]:
    """The editor's boxes: one per parameter of the tag's model, as stored or as sent."""
    rows = []
    for name in reports.param_fields(str(info.model)):
        current = params.get(name)
        shown = field(sent, f"param.{name}", limit=20_000) if sent is not None else None
        rows.append(
            {
                "name": name,
                "value": shown if shown is not None else _param_text(current),
                "json": isinstance(current, dict),
            }
        )
    return rows


def params_from_form(info: TagInfo, form: FormData) -> dict[str, Any]:
    """The parameters the editor sent: an empty box means the model's default; a JSON box
    (a mapping) must parse; lists stay text (`30, 60, 90, 180`), the model reads them."""
    out: dict[str, Any] = {}
    for name in reports.param_fields(str(info.model)):
        text = field(form, f"param.{name}", limit=20_000)
        if not text:
            continue
        if text.startswith("{"):
            try:
                out[name] = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"parameter {name!r}: not valid JSON ({exc})") from None
        else:
            out[name] = text
    return out


def distribution_chart(request: Request, counts: list[ValueCount], label: str) -> dict[str, Any]:
    return {
        "kind": "bar",
        "x": [named(request, c.name, c.name_en, c.value) for c in counts],
        "series": [{"name": label, "data": [c.users for c in counts]}],
    }


def _tag_page(
    request: Request,
    info: TagInfo,
    *,
    sent: FormData | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = engine_of(request)
    with runtime_of(request).warehouse() as wh:
        counts = reports.ordered_counts(info, tagvalues.distribution(wh, info.code, limit=1000))
        days = tagvalues.snapshot_dates(wh, info.code)
    params: dict[str, Any] | None = None
    source = info.definition.get("params_from") if info.kind == "computed" else None
    if info.kind == "computed" and source is None:
        try:
            params = taxonomy.resolved_params(engine, info.code)
        except InputError as exc:
            error = error or str(exc)
    rule_text = ""
    if info.kind == "rule":
        rule_text = field(sent, "definition", limit=100_000) if sent is not None else ""
        rule_text = rule_text or orjson.dumps(info.definition, option=orjson.OPT_INDENT_2).decode()
    t = t_of(request)
    context = {
        "tab": "tags",
        "tag": info,
        "tag_title": named(request, info.name, info.name_en, info.code),
        "tag_description": named(request, info.description, info.description_en, ""),
        "counts": counts,
        "value_name": lambda c: named(request, c.name, c.name_en, c.value),
        "chart": distribution_chart(request, counts, t("profiles.col.users")),
        "days": days,
        "params": params,
        "params_from": source,
        "param_rows": param_rows(info, params or {}, sent) if params is not None else [],
        "definition_json": orjson.dumps(info.definition, option=orjson.OPT_INDENT_2).decode(),
        "rule_text": rule_text,
        "error": error,
        "runs": [r for r in _runs(request) if r.detail.get("tags", {}).get(info.code)][:3],
    }
    return render(request, "profiles/tag.html", context, status_code=status_code)


def _find(request: Request, code: str) -> TagInfo | None:
    try:
        return taxonomy.get_tag(engine_of(request), code)
    except InputError:
        return None


@router.get("/tags/{code}")
def tag_page(request: Request, code: str, operator: Viewer) -> Response:
    info = _find(request, code)
    return not_found(request) if info is None else _tag_page(request, info)


def _preview(
    request: Request, info: TagInfo | None, form: FormData
) -> tuple[list[ValueCount] | None, str | None]:
    try:
        with runtime_of(request).warehouse() as wh:
            if info is None or info.kind == "rule":
                definition = _definition(form)
                guard_contact(request, tag_definition=definition)
                if info is None:
                    return reports.preview_rule_tag(wh, definition, today=today(request)), None
                return reports.preview_tag(
                    engine_of(request),
                    wh,
                    info.code,
                    today=today(request),
                    tz=tz_of(request),
                    definition=definition,
                ), None
            return reports.preview_tag(
                engine_of(request),
                wh,
                info.code,
                today=today(request),
                tz=tz_of(request),
                params=params_from_form(info, form),
            ), None
    except InputError as exc:
        return None, str(exc)


def _preview_reply(
    request: Request, counts: list[ValueCount] | None, error: str | None, current: int | None
) -> Response:
    t = t_of(request)
    context = {
        "preview": counts,
        "preview_error": error,
        "current_users": current,
        "value_name": lambda c: named(request, c.name, c.name_en, c.value),
        "chart": distribution_chart(request, counts or [], t("profiles.col.users")),
    }
    return render(request, "profiles/_tag_preview.html", context)


@router.post("/tags/{code}/preview")
def preview_tag(request: Request, code: str, operator: Analyst, form: Form) -> Response:
    """The distribution the edited parameters or rule would give (nothing is stored)."""
    info = _find(request, code)
    if info is None:
        return not_found(request)
    counts, error = _preview(request, info, form)
    return _preview_reply(request, counts, error, info.tagged_users)


@router.post("/tags/{code}/params")
def save_params(request: Request, code: str, operator: Changer, form: Form) -> Response:
    info = _find(request, code)
    if info is None:
        return not_found(request)
    try:
        taxonomy.set_params(
            engine_of(request),
            code=code,
            params=params_from_form(info, form),
            replace=True,
            actor=operator.username,
        )
    except InputError as exc:
        return _tag_page(request, info, sent=form, error=str(exc), status_code=400)
    flash(request, "profiles.tag.params_saved", code=code)
    return RedirectResponse(f"{PREFIX}/tags/{code}", status_code=303)


@router.post("/tags/{code}/rule")
def save_rule(request: Request, code: str, operator: Changer, form: Form) -> Response:
    """Replace a rule tag's rule (checked whole; the page shows what is wrong otherwise)."""
    info = _find(request, code)
    if info is None:
        return not_found(request)
    try:
        definition = _definition(form)
        guard_contact(request, tag_definition=definition)
        taxonomy.set_rule(
            engine_of(request), code=code, definition=definition, actor=operator.username
        )
    except InputError as exc:
        return _tag_page(request, info, sent=form, error=str(exc), status_code=400)
    flash(request, "profiles.tag.rule_saved", code=code)
    return RedirectResponse(f"{PREFIX}/tags/{code}", status_code=303)


@router.post("/tags/{code}/active")
def set_active(request: Request, code: str, operator: Changer, form: Form) -> Response:
    """Switch a tag off (no longer refreshed, its values kept) or on again."""
    if _find(request, code) is None:
        return not_found(request)
    active = form.get("active") == "1"
    taxonomy.update_tag(engine_of(request), code=code, is_active=active, actor=operator.username)
    flash(request, "profiles.tag.switched_on" if active else "profiles.tag.switched_off", code=code)
    return RedirectResponse(f"{PREFIX}/tags/{code}", status_code=303)


# -- new rule tags ----------------------------------------------------------------------------


def _definition(form: FormData) -> dict[str, Any]:
    text = field(form, "definition", limit=100_000)
    if not text:
        raise InputError('give the rule tag\'s definition: {"when": RULE} or {"cases": [...]}')
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the definition is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError('the definition is a JSON object: {"when": RULE} or {"cases": [...]}')
    parse_rule_tag(doc)  # names the bad part
    return doc


def _rule_form(
    request: Request, form: dict[str, str], error: str | None = None, status_code: int = 200
) -> Response:
    categories = [
        {"code": c.code, "name": named(request, c.name, c.name_en, c.code), "sub": c.parent}
        for c in taxonomy.list_categories(engine_of(request))
    ]
    context = {"tab": "tags", "form": form, "error": error, "categories": categories}
    return render(request, "profiles/rule_tag.html", context, status_code=status_code)


RULE_FIELDS = ("code", "name", "name_en", "category", "description", "description_en", "definition")


@router.get("/rule-tags/new")
def new_rule_tag(request: Request, operator: Changer) -> Response:
    blank = dict.fromkeys(RULE_FIELDS, "")
    blank.update(category="behaviour", definition=RULE_EXAMPLE)
    return _rule_form(request, blank)


@router.post("/rule-tags/preview")
def preview_rule_tag(request: Request, operator: Analyst, form: Form) -> Response:
    counts, error = _preview(request, None, form)
    return _preview_reply(request, counts, error, None)


@router.post("/rule-tags")
def create_rule_tag(request: Request, operator: Changer, form: Form) -> Response:
    sent = {name: field(form, name, limit=100_000) for name in RULE_FIELDS}
    try:
        definition = _definition(form)
        guard_contact(request, tag_definition=definition)
        created = taxonomy.create_tag(
            engine_of(request),
            code=sent["code"],
            name=sent["name"],
            name_en=sent["name_en"] or None,
            category=sent["category"],
            value_type="boolean" if "when" in definition else "enum",
            kind="rule",
            definition=definition,
            description=sent["description"] or None,
            description_en=sent["description_en"] or None,
            owner=operator.username,
            actor=operator.username,
        )
    except InputError as exc:
        return _rule_form(request, sent, str(exc), status_code=400)
    flash(request, "profiles.tag.created", code=created.code)
    return RedirectResponse(f"{PREFIX}/tags/{created.code}", status_code=303)
