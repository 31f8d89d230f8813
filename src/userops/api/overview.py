"""GET /api/overview: the console overview's numbers (new users, DAU, paying users, revenue,
day-7 retention per local day), for any signed-in operator."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from userops.analytics.overview import overview
from userops.api.deps import Viewer, check_csrf, runtime_of, settings_of

router = APIRouter(prefix="/api", tags=["overview"], dependencies=[Depends(check_csrf)])

MAX_DAYS = 366


class OverviewTotals(BaseModel):
    new_users: int = Field(description="New users (signed up) over the period.")
    active_users_avg: float = Field(description="Average daily active users.")
    paying_users_avg: float = Field(description="Average daily paying users.")
    revenue: str = Field(description="Revenue over the period, a decimal with 2 places.")
    retained_d7_avg: float | None = Field(
        description="Average day-7 retention of the days old enough to have one (0 to 1)."
    )


class OverviewDay(BaseModel):
    date: date
    new_users: int
    active_users: int
    paying_users: int
    revenue: str = Field(description="A decimal with 2 places.")
    retained_d7: float | None = Field(
        description="Share of the day's first-time active users active again 7 days later; "
        "null for the last 7 days of the period and days without new actives."
    )


class OverviewOut(BaseModel):
    start: date
    end: date
    timezone: str = Field(description="USEROPS_TIMEZONE: the days are local days of this zone.")
    totals: OverviewTotals
    series: list[OverviewDay]


@router.get("/overview", response_model=OverviewOut, summary="Overview metrics per day")
def get_overview(
    request: Request,
    operator: Viewer,
    end: Annotated[
        date | None, Query(description="Last day (YYYY-MM-DD); default today, local time.")
    ] = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Days in the period.")] = 30,
) -> OverviewOut:
    settings = settings_of(request)
    last = end or datetime.now(settings.tz).date()
    with runtime_of(request).warehouse() as wh:
        data = overview(wh, end=last, days=days).as_json()
    return OverviewOut.model_validate({**data, "timezone": settings.timezone})
