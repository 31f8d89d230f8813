"""The Segments tab (人群圈选): the list, the builder (nested all/any/not groups of condition
rows on traits, tags, behaviour and other segments) with a live count, saving as a dynamic or
static segment, a segment's page (its rule, members, CSV export, delete).

The live count: the builder form posts itself to /profiles/segments/preview on every change
(htmx, `change, input delay:500ms`), which answers the count and a sample of the matching users
(each a link to their 360). Adding or removing a row or a group, or changing what a row compares,
posts it to /profiles/segments/builder, which draws the builder again. Analysts preview;
operators and admins save, change and delete (the services audit it). A bad rule shows the
service's message with its row marked, and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from userops.analytics import catalog
from userops.errors import InputError
from userops.profiles import segments, taxonomy
from userops.profiles.segments import SegmentInfo
from userops.web.deps import Analyst, Viewer, runtime_of
from userops.web.profiles import builder
from userops.web.profiles.builder import Built, Context, Node, TagChoice
from userops.web.profiles.common import (
    PREFIX,
    Form,
    engine_of,
    field,
    guard_contact,
    is_htmx,
    named,
    not_found,
    t_of,
    today,
)
from userops.web.rendering import flash, render

router = APIRouter(prefix=PREFIX)

SAMPLE = 20
MEMBERS_SHOWN = 50


def builder_context(request: Request) -> Context:
    """What the builder's rows may name: traits, tags (with their values), events, segments."""
    t = t_of(request)
    tags = []
    for tag in taxonomy.list_tags(engine_of(request)):
        values: tuple[tuple[str, str], ...] = tuple(
            (lb.code, named(request, lb.name, lb.name_en, lb.code)) for lb in tag.labels
        )
        if tag.value_type == "boolean" and not values:
            values = (("true", t("profiles.yes")), ("false", t("profiles.no")))
        if tag.value_type == "number":
            values = ()  # scores compare as numbers
        tags.append(
            TagChoice(
                tag.code, named(request, tag.name, tag.name_en, tag.code), tag.value_type, values
            )
        )
    with runtime_of(request).warehouse() as wh:
        events = catalog.event_names(wh)
        custom = catalog.custom_trait_keys(wh)
    found = segments.list_segments(engine_of(request))
    return Context(
        traits=builder.trait_choices(custom),
        tags=tuple(tags),
        events=tuple(events),
        segments=tuple((s.code, s.name) for s in found),
    )


def _evaluate(request: Request, tree: Node, ctx: Context) -> dict[str, Any]:
    """The tree's rule, checked, and the users it selects today (or the error, its row marked)."""
    built = builder.to_rule(tree, ctx)
    preview = None
    if built.rule is not None:
        try:
            guard_contact(request, rule=built.rule)
            with runtime_of(request).warehouse() as wh:
                preview = segments.preview(
                    wh, built.rule, today=today(request), engine=engine_of(request), sample=SAMPLE
                )
        except InputError as exc:
            built = built.blame(tree, str(exc))
    return {"built": built, "preview": preview, "error_row": builder.row_label(built.error_path)}


def _builder_values(
    request: Request, tree: Node, ctx: Context, *, evaluate: bool = True
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tree": tree,
        "ctx": ctx,
        "b": builder,
        "op_keys": builder.OP_KEYS,
        "built": Built(None),
        "preview": None,
        "error_row": "",
        "pristine": not evaluate,
    }
    if evaluate:
        values.update(_evaluate(request, tree, ctx))
    rule = values["built"].rule
    values["rule_text"] = orjson.dumps(rule, option=orjson.OPT_INDENT_2).decode() if rule else ""
    return values


def _read_tree(request: Request, form: FormData, ctx: Context) -> tuple[Node, str | None]:
    """The posted tree (after its action, or from the JSON box); an unreadable JSON box
    keeps the rows and gives the error."""
    error = None
    action = field(form, "action", limit=200)
    tree = builder.from_form(form)
    if action == "load-json":
        try:
            tree = builder.from_json_text(field(form, "rule_json", limit=200_000))
        except InputError as exc:
            error = str(exc)
    elif action:
        tree = builder.apply_action(tree, action)
    return builder.normalize(tree, ctx), error


def _segment_form(form: FormData | None, info: SegmentInfo | None = None) -> dict[str, str]:
    if form is not None:
        return {k: field(form, k, limit=1000) for k in ("code", "name", "description", "kind")}
    if info is not None:
        return {
            "code": info.code,
            "name": info.name,
            "description": info.description or "",
            "kind": info.kind,
        }
    return {"code": "", "name": "", "description": "", "kind": "dynamic"}


def _page(
    request: Request,
    tree: Node,
    ctx: Context,
    *,
    segment: SegmentInfo | None = None,
    form: FormData | None = None,
    save_error: str | None = None,
    json_error: str | None = None,
    evaluate: bool = True,
    status_code: int = 200,
) -> Response:
    context = {
        "tab": "segments",
        "segment": segment,
        "form": _segment_form(form, segment),
        "save_error": save_error,
        "json_error": json_error,
        **_builder_values(request, tree, ctx, evaluate=evaluate),
    }
    if segment is not None:
        with runtime_of(request).warehouse() as wh:
            ids = segments.members(wh, segment.code)
        context["members"] = ids.column("user_id").slice(0, MEMBERS_SHOWN).to_pylist()
        context["member_count"] = ids.num_rows
    return render(request, "profiles/segment.html", context, status_code=status_code)


@router.get("/segments")
def segments_page(request: Request, operator: Viewer) -> Response:
    found = segments.list_segments(engine_of(request))
    return render(request, "profiles/segments.html", {"tab": "segments", "segments": found})


@router.get("/segments/new")
def new_segment(
    request: Request, operator: Analyst, tag: str | None = None, value: str | None = None
) -> Response:
    """A new rule; `?tag=rfm_group&value=important_winback` starts it from one tag value (the
    dashboards link their groups here)."""
    ctx = builder_context(request)
    if tag and value and ctx.tag(tag) is not None:
        row = Node("", "tag", field=tag, op="=", value=value[:200])
        tree = builder.normalize(builder.renumber(Node(builder.ROOT, "all", [row])), ctx)
        return _page(request, tree, ctx)
    return _page(request, builder.new_tree(), ctx, evaluate=False)


@router.post("/segments/preview")
def preview(request: Request, operator: Analyst, form: Form) -> Response:
    """The live count of the builder's rule (nothing is stored)."""
    ctx = builder_context(request)
    tree = builder.normalize(builder.from_form(form), ctx)
    values = _builder_values(request, tree, ctx)
    return render(request, "profiles/_segment_preview.html", values)


@router.post("/segments/builder")
def rebuild(request: Request, operator: Analyst, form: Form) -> Response:
    """The builder after a row or group was added, removed or changed (htmx: the builder
    alone; without script: the whole page)."""
    ctx = builder_context(request)
    tree, json_error = _read_tree(request, form, ctx)
    if is_htmx(request):
        values = {**_builder_values(request, tree, ctx), "json_error": json_error}
        return render(request, "profiles/_builder.html", values)
    code = field(form, "segment", limit=64)
    segment = _find(request, code) if code else None
    return _page(request, tree, ctx, segment=segment, form=form, json_error=json_error)


@router.post("/segments")
def create(request: Request, operator: Analyst, form: Form) -> Response:
    ctx = builder_context(request)
    tree = builder.normalize(builder.from_form(form), ctx)
    built = builder.to_rule(tree, ctx)
    sent = _segment_form(form)
    try:
        if built.rule is None:
            raise InputError(built.error or "the rule is not complete")
        guard_contact(request, rule=built.rule)
        runtime = runtime_of(request)
        with runtime.warehouse() as wh:
            created = segments.create_segment(
                runtime.engine,
                wh,
                code=sent["code"],
                name=sent["name"],
                rule=built.rule,
                static=sent["kind"] == "static",
                description=sent["description"] or None,
                actor=operator.username,
                today=today(request),
            )
    except InputError as exc:
        return _page(request, tree, ctx, form=form, save_error=str(exc), status_code=400)
    flash(request, "profiles.segment.created", code=created.code, size=f"{created.size or 0:,}")
    return RedirectResponse(f"{PREFIX}/segments/{created.code}", status_code=303)


def _find(request: Request, code: str) -> SegmentInfo | None:
    try:
        return segments.get_segment(engine_of(request), code)
    except InputError:
        return None


@router.get("/segments/{code}")
def segment_page(request: Request, code: str, operator: Viewer) -> Response:
    info = _find(request, code)
    if info is None:
        return not_found(request)
    ctx = builder_context(request)
    tree = builder.from_rule(info.rule) if info.rule else builder.new_tree()
    return _page(request, tree, ctx, segment=info, evaluate=info.kind == "dynamic")


@router.post("/segments/{code}/rule")
def update_rule(request: Request, code: str, operator: Analyst, form: Form) -> Response:
    info = _find(request, code)
    if info is None:
        return not_found(request)
    ctx = builder_context(request)
    tree = builder.normalize(builder.from_form(form), ctx)
    built = builder.to_rule(tree, ctx)
    try:
        if built.rule is None:
            raise InputError(built.error or "the rule is not complete")
        guard_contact(request, rule=built.rule)
        runtime = runtime_of(request)
        with runtime.warehouse() as wh:
            changed = segments.update_rule(
                runtime.engine, wh, code, built.rule, actor=operator.username, today=today(request)
            )
    except InputError as exc:
        return _page(
            request, tree, ctx, segment=info, form=form, save_error=str(exc), status_code=400
        )
    flash(request, "profiles.segment.updated", code=code, size=f"{changed.size or 0:,}")
    return RedirectResponse(f"{PREFIX}/segments/{code}", status_code=303)


@router.post("/segments/{code}/delete")
def delete(request: Request, code: str, operator: Analyst) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.warehouse() as wh:
            segments.delete_segment(runtime.engine, wh, code, actor=operator.username)
    except InputError as exc:
        flash(request, "profiles.segment.not_deleted", code=code, reason=str(exc))
        return RedirectResponse(f"{PREFIX}/segments/{code}", status_code=303)
    flash(request, "profiles.segment.deleted", code=code)
    return RedirectResponse(f"{PREFIX}/segments", status_code=303)


@router.get("/segments/{code}/export.csv")
def export(request: Request, code: str, operator: Viewer) -> Response:
    """The members' user ids as CSV (read under the warehouse lock, streamed without it)."""
    if _find(request, code) is None:
        return not_found(request)
    with runtime_of(request).warehouse() as wh:
        ids = segments.members(wh, code)

    def body() -> Iterator[bytes]:
        for chunk in segments.csv_lines(ids, spreadsheet=True):
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="segment-{code}.csv"'},
    )
