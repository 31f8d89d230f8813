"""GET /api/metrics/...: the metrics of `userops metrics`, with the same JSON, for any signed-in
operator (the viewer role is enough).

Query parameters mirror the command line: `from`, `to` (local days, default the last 30),
`where` (repeatable: `?where=channel=referral&where=prop.category=shoes`), `by`, and the
metric's own options. A bad parameter answers 400 with one line naming it. docs/metrics.md
defines every number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from userops.analytics import activity, channels, lifecycle, retention, revenue
from userops.analytics.filters import fields_help, parse_by, parse_where
from userops.analytics.periods import Period, resolve_range
from userops.api.deps import Viewer, check_csrf, runtime_of, settings_of
from userops.warehouse.connection import Warehouse

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[Depends(check_csrf)])

T = TypeVar("T")

FromQ = Annotated[
    dt.date | None,
    Query(alias="from", description="First local day (YYYY-MM-DD); default 29 days before `to`."),
]
ToQ = Annotated[dt.date | None, Query(alias="to", description="Last local day; default today.")]
PeriodQ = Annotated[Period, Query(description="day, week (Monday to Sunday) or month.")]
WhereQ = Annotated[
    list[str] | None,
    Query(
        description="Filters, repeatable: channel=referral, city!=北京,上海, gender is set, "
        "trait.KEY=V, prop.category=shoes, prop.price>=100."
    ),
]
ByQ = Annotated[str | None, Query(description=f"Break down by one trait: {fields_help()}.")]
EventQ = Annotated[str | None, Query(description="Count only this event (default: any event).")]


class _Out(BaseModel):
    """Keys a result leaves out (`group`, `by` without a breakdown) stay out of the reply."""


def _answer(
    request: Request,
    start: dt.date | None,
    end: dt.date | None,
    metric: Callable[[Warehouse, dt.date, dt.date], T],
) -> T:
    first, last = resolve_range(start, end, settings_of(request).tz)
    with runtime_of(request).warehouse() as wh:
        return metric(wh, first, last)


def _filters(where: list[str] | None, by: str | None) -> tuple[Any, str | None]:
    return parse_where(where), parse_by(by)


# --- active users, stickiness, new users --------------------------------------------------------


class ActiveRow(_Out):
    date: dt.date = Field(description="First day of the period.")
    active: int = Field(description="Distinct users with an event in the period.")
    group: str | None = Field(None, description="The breakdown value (only with `by`).")


class ActiveOut(_Out):
    period: Period
    series: list[ActiveRow]
    by: str | None = Field(None, description="The breakdown trait (only with `by`).")


@router.get(
    "/active",
    response_model=ActiveOut,
    response_model_exclude_unset=True,
    summary="Active users per day, week or month (DAU, WAU, MAU)",
)
def get_active(
    request: Request,
    operator: Viewer,
    period: PeriodQ = "day",
    start: FromQ = None,
    end: ToQ = None,
    event: EventQ = None,
    where: WhereQ = None,
    by: ByQ = None,
) -> ActiveOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: activity.active_users(
            wh, period=period, start=s, end=e, event=event, filters=filters, by=group
        ).as_json(),
    )
    return ActiveOut.model_validate(data)


class StickinessRow(_Out):
    date: dt.date
    dau: int
    wau: int = Field(description="Active in the 7 local days ending on `date`.")
    mau: int = Field(description="Active in the 30 local days ending on `date`.")
    stickiness: float | None = Field(description="DAU / MAU (null when MAU is 0).")
    group: str | None = None


class StickinessOut(_Out):
    series: list[StickinessRow]
    by: str | None = None


@router.get(
    "/stickiness",
    response_model=StickinessOut,
    response_model_exclude_unset=True,
    summary="DAU, rolling WAU and MAU, and stickiness (DAU/MAU) per day",
)
def get_stickiness(
    request: Request,
    operator: Viewer,
    start: FromQ = None,
    end: ToQ = None,
    event: EventQ = None,
    where: WhereQ = None,
    by: ByQ = None,
) -> StickinessOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: activity.stickiness(
            wh, start=s, end=e, event=event, filters=filters, by=group
        ).as_json(),
    )
    return StickinessOut.model_validate(data)


class NewUsersRow(_Out):
    date: dt.date
    new_users: int = Field(description="Users whose signup (created_at) falls in the period.")
    group: str | None = None


class NewUsersOut(_Out):
    period: Period
    series: list[NewUsersRow]
    by: str | None = None


@router.get(
    "/new-users",
    response_model=NewUsersOut,
    response_model_exclude_unset=True,
    summary="New users (signups) per period, e.g. by channel",
)
def get_new_users(
    request: Request,
    operator: Viewer,
    period: PeriodQ = "day",
    start: FromQ = None,
    end: ToQ = None,
    where: WhereQ = None,
    by: ByQ = None,
) -> NewUsersOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: activity.new_users(
            wh, period=period, start=s, end=e, filters=filters, by=group
        ).as_json(),
    )
    return NewUsersOut.model_validate(data)


# --- retention ------------------------------------------------------------------------------


class CohortRow(_Out):
    cohort: dt.date = Field(description="First day of the cohort's period.")
    size: int
    retained: list[int] = Field(
        description="retained[k]: the cohort's users active in the k-th period after its own "
        "(or in it or later, unbounded); periods not yet started are left out."
    )
    group: str | None = None


class RetentionOut(_Out):
    period: Period
    cohorts: list[CohortRow]
    by: str | None = None


@router.get(
    "/retention",
    response_model=RetentionOut,
    response_model_exclude_unset=True,
    summary="Cohort retention",
)
def get_retention(
    request: Request,
    operator: Viewer,
    period: PeriodQ = "day",
    periods: Annotated[int, Query(ge=0, le=retention.MAX_PERIODS)] = 7,
    start: FromQ = None,
    end: ToQ = None,
    cohort: Annotated[
        str, Query(description="first-activity (first event ever) or signup (created_at).")
    ] = "first-activity",
    return_event: Annotated[
        str | None, Query(description="Count a return only for this event.")
    ] = None,
    unbounded: Annotated[
        bool, Query(description="Active in period k or any later one ('on or after').")
    ] = False,
    where: WhereQ = None,
    by: ByQ = None,
) -> RetentionOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: retention.retention(
            wh,
            period=period,
            periods=periods,
            start=s,
            end=e,
            basis=retention.parse_basis(cohort),
            return_event=return_event,
            unbounded=unbounded,
            filters=filters,
            by=group,
        ).as_json(),
    )
    return RetentionOut.model_validate(data)


# --- revenue --------------------------------------------------------------------------------


class Figures(_Out):
    active_users: int
    paying_users: int = Field(description="Users with an event whose revenue is above 0.")
    paying_rate: float | None
    revenue: str = Field(description="Sum of positive revenue, a decimal with 2 places.")
    orders: int = Field(description="Events with revenue above 0.")
    arpu: str | None = Field(description="Revenue per active user.")
    arppu: str | None = Field(description="Revenue per paying user.")
    aov: str | None = Field(description="Average order value.")
    repurchase_rate: float | None = Field(description="Paying users with 2+ orders / paying.")


class RevenueRow(Figures):
    date: dt.date
    churned_users: int = Field(description="Active in the previous period, not in this one.")
    churn_rate: float | None
    group: str | None = None


class RevenueSummaryOut(Figures):
    new_users: int
    first_purchase_days: int
    first_purchase_users: int = Field(description="New users with an order within the days.")
    first_purchase_rate: float | None
    group: str | None = None


class RevenueOut(_Out):
    period: Period
    summary: RevenueSummaryOut
    series: list[RevenueRow]
    by: str | None = None
    groups: list[RevenueSummaryOut] | None = None


@router.get(
    "/revenue",
    response_model=RevenueOut,
    response_model_exclude_unset=True,
    summary="Paying users, revenue, ARPU, ARPPU, AOV, repurchase, churn, conversion",
)
def get_revenue(
    request: Request,
    operator: Viewer,
    period: PeriodQ = "day",
    start: FromQ = None,
    end: ToQ = None,
    within: Annotated[
        int, Query(ge=1, le=revenue.MAX_WITHIN_DAYS, description="First-purchase window, days.")
    ] = revenue.DEFAULT_WITHIN_DAYS,
    where: WhereQ = None,
    by: ByQ = None,
) -> RevenueOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: revenue.revenue(
            wh, period=period, start=s, end=e, within_days=within, filters=filters, by=group
        ).as_json(),
    )
    return RevenueOut.model_validate(data)


# --- channels -------------------------------------------------------------------------------


class LtvPointOut(_Out):
    age_days: int
    users: int = Field(description="Users at least this many days old at the end of the range.")
    revenue_per_user: str | None


class ChannelRowOut(_Out):
    group: str | None
    new_users: int
    activated_users: int
    activation_rate: float | None
    retention: dict[str, float | None] = Field(description="d1, d7, d30: day-N retention.")
    paying_users: int
    paying_rate: float | None
    revenue: str
    revenue_per_user: str | None
    ltv: list[LtvPointOut]
    cost: str | None = Field(description="Imported channel costs over the range.")
    cac: str | None = Field(description="Cost per new user.")
    roi: float | None = Field(description="(revenue - cost) / cost.")


class ChannelsOut(_Out):
    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date
    by: str
    activation_event: str | None
    activation_days: int
    groups: list[ChannelRowOut]
    total: ChannelRowOut


@router.get(
    "/channels",
    response_model=ChannelsOut,
    response_model_exclude_unset=True,
    response_model_by_alias=True,
    summary="Acquisition channels compared",
)
def get_channels(
    request: Request,
    operator: Viewer,
    start: FromQ = None,
    end: ToQ = None,
    by: Annotated[str, Query(description=f"Group new users by: {fields_help()}.")] = "channel",
    activation_event: Annotated[str | None, Query()] = None,
    activation_days: Annotated[int, Query(ge=1, le=3660)] = channels.DEFAULT_ACTIVATION_DAYS,
    where: WhereQ = None,
) -> ChannelsOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: channels.channels(
            wh,
            start=s,
            end=e,
            by=group,
            filters=filters,
            activation_event=activation_event,
            activation_days=activation_days,
        ).as_json(),
    )
    return ChannelsOut.model_validate(data)


# --- lifecycle ------------------------------------------------------------------------------


class LifecycleRow(_Out):
    date: dt.date
    new: int = Field(description="First activity ever in this period.")
    returning: int = Field(description="Active in this period and the previous one.")
    resurrecting: int = Field(description="Active now, not in the previous period, but before.")
    dormant: int = Field(description="Active in the previous period, not in this one.")
    group: str | None = None


class LifecycleOut(_Out):
    period: Period
    series: list[LifecycleRow]
    by: str | None = None


@router.get(
    "/lifecycle",
    response_model=LifecycleOut,
    response_model_exclude_unset=True,
    summary="Lifecycle mix per period: new, returning, resurrecting, dormant",
)
def get_lifecycle(
    request: Request,
    operator: Viewer,
    period: PeriodQ = "week",
    start: FromQ = None,
    end: ToQ = None,
    event: EventQ = None,
    where: WhereQ = None,
    by: ByQ = None,
) -> LifecycleOut:
    filters, group = _filters(where, by)
    data = _answer(
        request,
        start,
        end,
        lambda wh, s, e: lifecycle.lifecycle(
            wh, period=period, start=s, end=e, event=event, filters=filters, by=group
        ).as_json(),
    )
    return LifecycleOut.model_validate(data)
