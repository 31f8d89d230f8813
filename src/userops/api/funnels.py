"""POST /api/metrics/funnel: the funnel of `userops metrics funnel`, with the same JSON, for any
signed-in operator (the viewer role is enough).

A POST because a funnel is a structured question (steps with their own property filters), not a
handful of query parameters; it changes nothing, but like every POST it carries the session's
X-CSRF-Token header. A bad part answers 400 with one line naming it. docs/funnels.md defines
every number.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from userops.analytics.filters import Op, fields_help, parse_by, parse_where
from userops.analytics.funnels import (
    MAX_STEPS,
    MIN_STEPS,
    FunnelSpec,
    FunnelStep,
    Order,
    funnel,
    step_filter,
)
from userops.analytics.periods import resolve_range
from userops.api.bodies import RequestBody
from userops.api.deps import Viewer, check_csrf, runtime_of, settings_of

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[Depends(check_csrf)])

Scalar = str | int | float | bool


class StepFilterIn(RequestBody):
    key: str = Field(description="A key of the event's properties (letters, digits, _).")
    op: Op = Field("=", description="=, !=, in, not in, is set, is not set, >, >=, <, <=.")
    value: Scalar | list[Scalar] | None = Field(
        None,
        description="A string, number or boolean; a list for in / not in; none for is set. "
        "It matches a JSON string of the same text or a JSON number or boolean equal to it, as "
        'every metric\'s property filters do: 65 and "65" both match either.',
    )


class StepIn(RequestBody):
    event: str = Field(description="Event name.", examples=["view_item"])
    filters: list[StepFilterIn] = Field(
        default_factory=list, description="Conditions on this step's event properties (all)."
    )


class FunnelIn(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    steps: list[StepIn] = Field(min_length=MIN_STEPS, max_length=MAX_STEPS)
    start: dt.date | None = Field(
        None, alias="from", description="First local day of step 1; default 29 days before `to`."
    )
    end: dt.date | None = Field(None, alias="to", description="Last local day; default today.")
    window: str = Field("7d", description="Conversion window from step 1: 30m, 24h, 7d.")
    order: Order = Field(
        "ordered",
        description="ordered: at or after the previous step, others between allowed; strict: "
        "the very next event; any: steps 2..n in any order.",
    )
    by: str | None = Field(None, description=f"Break down by one trait: {fields_help()}.")
    where: list[str] = Field(
        default_factory=list,
        description="Filters as for every metric: a trait (channel=referral) chooses users, a "
        "property (prop.platform=ios) applies to every step.",
    )
    dropped_at: int | None = Field(
        None, description="Also list the users who reached step N-1 but not step N."
    )


class StepOut(BaseModel):
    step: int
    event: str
    label: str = Field(description="The event with its filters: view_item[prop.category=手机].")
    count: int = Field(description="Users who reached this step.")
    conversion: float | None = Field(description="count / step 1's count.")
    step_conversion: float | None = Field(description="count / the previous step's count.")
    median_seconds: float | None = Field(
        description="Median time from the previous step, over the users who reached this one."
    )
    median_seconds_from_first: float | None


class GroupOut(BaseModel):
    key: str | None = Field(description="The trait's value; null for users without it.")
    steps: list[StepOut]


class FunnelOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    window: str
    order: Order
    by: str | None
    filters: list[str]
    timezone: str = Field(description="USEROPS_TIMEZONE: the days are local days of this zone.")
    steps: list[StepOut]
    breakdown: list[GroupOut]
    dropped_users: list[str] | None = None


def _spec(body: FunnelIn, request: Request) -> FunnelSpec:
    first, last = resolve_range(body.start, body.end, settings_of(request).tz)
    steps = [
        FunnelStep(s.event, tuple(step_filter(f.key, f.op, f.value) for f in s.filters))
        for s in body.steps
    ]
    return FunnelSpec.of(
        steps,
        start=first,
        end=last,
        window=body.window,
        order=body.order,
        by=parse_by(body.by),
        filters=parse_where(body.where),
    )


@router.post(
    "/funnel",
    response_model=FunnelOut,
    response_model_by_alias=True,
    summary="Funnel: users through ordered steps within a window",
)
def post_funnel(request: Request, operator: Viewer, body: Annotated[FunnelIn, Body()]) -> FunnelOut:
    spec = _spec(body, request)
    with runtime_of(request).warehouse() as wh:
        result = funnel(wh, spec)
    dropped = result.dropped_users(body.dropped_at) if body.dropped_at is not None else None
    return FunnelOut.model_validate(
        {
            **result.as_json(),
            "timezone": settings_of(request).timezone,
            "dropped_users": dropped,
        }
    )
