"""The JSON API of segments (人群): preview a rule live, save, list, change, delete, export.

Reading and previewing need a signed-in operator of any role (`view`); saving, changing and
deleting need the `analyse` permission (analyst, operator or admin: a segment definition acts on
no user by itself; campaigns that use it need more) and, like
every write, the session's X-CSRF-Token header (the preview is a POST too, so it carries the
header although it writes nothing). A bad rule answers 400 with the path of the bad part
(`rule.all[2].op: unknown operator ...`), an unknown segment 404, a taken code 409.
docs/segments.md defines the rule format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from userops.analytics.filters import parse_where
from userops.analytics.funnels import MAX_STEPS, MIN_STEPS, FunnelSpec, FunnelStep, step_filter
from userops.analytics.periods import Period, resolve_range
from userops.analytics.retention import CohortBasis
from userops.api.bodies import RequestBody
from userops.api.deps import Viewer, check_csrf, require, runtime_of, settings_of
from userops.api.funnels import StepIn
from userops.errors import InputError
from userops.profiles import segments
from userops.profiles.user360 import check_contact_rule
from userops.services.auth import OperatorInfo

router = APIRouter(prefix="/api/segments", tags=["segments"], dependencies=[Depends(check_csrf)])

# Segment definitions act on no user: analysts may save them (domain/roles.py).
Saver = Annotated[OperatorInfo, Depends(require("analyse"))]
Json = dict[str, Any]
RULE_DOC = "An audience rule (docs/segments.md): all/any/not of trait, tag, event, segment."


class PreviewIn(RequestBody):
    rule: Json = Field(description=RULE_DOC)
    sample: int = Field(segments.DEFAULT_SAMPLE, ge=0, le=segments.MAX_SAMPLE)
    today: dt.date | None = Field(None, description="Evaluate as on this local day (today).")


class PreviewOut(BaseModel):
    count: int = Field(description="Users the rule selects.")
    sample: list[str] = Field(description="The first `sample` of them, by user id.")


class FunnelSource(RequestBody):
    """The funnel of POST /api/metrics/funnel whose drop-offs at `dropped_at` become the list."""

    model_config = ConfigDict(populate_by_name=True)

    steps: list[StepIn] = Field(min_length=MIN_STEPS, max_length=MAX_STEPS)
    start: dt.date | None = Field(None, alias="from")
    end: dt.date | None = Field(None, alias="to")
    window: str = "7d"
    order: Literal["ordered", "strict", "any"] = "ordered"
    where: list[str] = Field(default_factory=list)
    dropped_at: int = Field(description="The step the users did not reach (2..n).")


class RetentionSource(RequestBody):
    """One cell of GET /api/metrics/retention: the cohort's users active in period k
    (`retained`), or the cohort's users who were not."""

    model_config = ConfigDict(populate_by_name=True)

    period: Period = "day"
    start: dt.date | None = Field(None, alias="from")
    end: dt.date | None = Field(None, alias="to")
    basis: CohortBasis = "first_activity"
    return_event: str | None = None
    unbounded: bool = False
    where: list[str] = Field(default_factory=list)
    cohort: dt.date = Field(description="The cohort: the first day of its period.")
    k: int = Field(ge=0, description="The period after the cohort's.")
    retained: bool = True


class SegmentIn(RequestBody):
    code: str = Field(description="ASCII letters, digits, _ and -, up to 64.")
    name: str = Field(max_length=segments.MAX_NAME)
    description: str | None = None
    kind: Literal["dynamic", "static"] = "dynamic"
    rule: Json | None = Field(None, description=RULE_DOC)
    user_ids: list[str] | None = Field(None, description="A static list of user ids.")
    funnel: FunnelSource | None = None
    retention: RetentionSource | None = None
    today: dt.date | None = Field(None, description="Evaluate as on this local day (today).")


class RuleIn(RequestBody):
    rule: Json = Field(description=RULE_DOC)
    today: dt.date | None = None


def _today(request: Request, day: dt.date | None) -> dt.date:
    return day or dt.datetime.now(settings_of(request).tz).date()


@router.post("/preview", response_model=PreviewOut, summary="Count the users a rule selects")
def post_preview(request: Request, operator: Saver, body: Annotated[PreviewIn, Body()]) -> Json:
    check_contact_rule(operator.role, rule=body.rule)
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        result = segments.preview(
            wh,
            body.rule,
            today=_today(request, body.today),
            engine=runtime.engine,
            sample=body.sample,
        )
    return result.as_json()


@router.get("", summary="Every segment")
def get_segments(request: Request, operator: Viewer) -> list[Json]:
    return [s.as_json() for s in segments.list_segments(runtime_of(request).engine)]


@router.get("/{code}", summary="One segment")
def get_segment(request: Request, code: str, operator: Viewer) -> Json:
    return segments.get_segment(runtime_of(request).engine, code).as_json()


def _funnel_spec(request: Request, source: FunnelSource) -> FunnelSpec:
    first, last = resolve_range(source.start, source.end, settings_of(request).tz)
    steps = [
        FunnelStep(s.event, tuple(step_filter(f.key, f.op, f.value) for f in s.filters))
        for s in source.steps
    ]
    return FunnelSpec.of(
        steps,
        start=first,
        end=last,
        window=source.window,
        order=source.order,
        filters=parse_where(source.where),
    )


@router.post("", status_code=201, summary="Save a segment (members are written at once)")
def post_segment(request: Request, operator: Saver, body: SegmentIn) -> Json:
    given = [k for k in ("rule", "user_ids", "funnel", "retention") if getattr(body, k) is not None]
    if len(given) != 1:
        raise InputError("give exactly one of rule, user_ids, funnel, retention")
    if given[0] != "rule" and body.kind != "static":
        raise InputError(f"a segment from {given[0]} is a frozen list: give kind 'static'")
    runtime = runtime_of(request)
    actor = operator.username
    if body.rule is not None:
        check_contact_rule(operator.role, rule=body.rule)
    with runtime.warehouse() as wh:
        if body.rule is not None:
            info = segments.create_segment(
                runtime.engine,
                wh,
                code=body.code,
                name=body.name,
                rule=body.rule,
                static=body.kind == "static",
                description=body.description,
                actor=actor,
                today=_today(request, body.today),
            )
        elif body.user_ids is not None:
            info = segments.create_static_segment(
                runtime.engine,
                wh,
                code=body.code,
                name=body.name,
                user_ids=body.user_ids,
                source=f"upload by {actor} ({len(body.user_ids)} ids)",
                description=body.description,
                actor=actor,
            )
        elif body.funnel is not None:
            info = segments.create_from_funnel(
                runtime.engine,
                wh,
                code=body.code,
                name=body.name,
                spec=_funnel_spec(request, body.funnel),
                dropped_at=body.funnel.dropped_at,
                description=body.description,
                actor=actor,
            )
        else:
            cell = body.retention
            assert cell is not None
            first, last = resolve_range(cell.start, cell.end, settings_of(request).tz)
            info = segments.create_from_retention(
                runtime.engine,
                wh,
                code=body.code,
                name=body.name,
                period=cell.period,
                start=first,
                end=last,
                cohort=cell.cohort,
                k=cell.k,
                basis=cell.basis,
                return_event=cell.return_event,
                unbounded=cell.unbounded,
                filters=parse_where(cell.where),
                retained=cell.retained,
                description=body.description,
                actor=actor,
            )
    return info.as_json()


@router.put("/{code}/rule", summary="Change a dynamic segment's rule and evaluate it now")
def put_rule(request: Request, code: str, operator: Saver, body: RuleIn) -> Json:
    check_contact_rule(operator.role, rule=body.rule)
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        info = segments.update_rule(
            runtime.engine,
            wh,
            code,
            body.rule,
            actor=operator.username,
            today=_today(request, body.today),
        )
    return info.as_json()


@router.delete("/{code}", summary="Delete a segment and its members")
def delete_segment(request: Request, code: str, operator: Saver) -> Json:
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        segments.delete_segment(runtime.engine, wh, code, actor=operator.username)
    return {"deleted": code}


@router.get(
    "/{code}/export",
    summary="The members' user ids as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_export(request: Request, code: str, operator: Viewer) -> StreamingResponse:
    runtime = runtime_of(request)
    segments.get_segment(runtime.engine, code)
    # The ids are read under the warehouse lock, then streamed without holding it.
    with runtime.warehouse() as wh:
        ids = segments.members(wh, code)

    def body() -> Iterator[bytes]:
        for chunk in segments.csv_lines(ids):
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{code}.csv"'},
    )
