"""The JSON API of the growth system: points, levels, benefits, incentive rules, badges,
leaderboards and the economy report (docs/membership.md).

Reads need a signed-in operator of any role (`view`); writes need the `change` permission
(operator or admin) and the session's CSRF header. Every points write carries an idempotency
`key`: a retried request answers what the first did (`replayed: true`) and writes nothing.
Services' refusals rise to the API's one handler (`userops.api.deps.refused`): 400 for a bad
input (an unknown scheme or rule is a 400 too: the message names it), 409 for a key used for
another request or too few points.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from userops.api.bodies import RequestBody
from userops.api.deps import Viewer, check_csrf, require, runtime_of, settings_of
from userops.domain.membership.badges import Tier
from userops.domain.membership.incentives import AwardFormula, Caps
from userops.membership import badges, benefits, economy, leaderboards, levels, points, rules
from userops.membership.levels import LevelSpec
from userops.services.auth import OperatorInfo

router = APIRouter(prefix="/api", tags=["membership"], dependencies=[Depends(check_csrf)])

Changer = Annotated[OperatorInfo, Depends(require("change"))]
Json = dict[str, Any]


# Points ------------------------------------------------------------------------------------


class Award(RequestBody):
    amount: int = Field(gt=0, description="Points to give.")
    key: str = Field(min_length=1, max_length=200, description="Idempotency key.")
    reason: str | None = None
    reference: str | None = Field(default=None, description="Order or campaign it belongs to.")
    maturity_days: int = Field(default=0, ge=0, description="Pending this many days.")
    expiry: str = Field(default="never", examples=["never", "days:365", "year_end:1"])


class Redeem(RequestBody):
    amount: int = Field(gt=0)
    key: str = Field(min_length=1, max_length=200)
    reference: str | None = None
    reason: str | None = None


class Reverse(RequestBody):
    key: str = Field(min_length=1, max_length=200)
    entry_key: str | None = Field(default=None, description="The entry to reverse, by its key.")
    order: str | None = Field(default=None, description="Reverse everything of this order.")
    amount: int | None = Field(default=None, gt=0, description="Only part of entry_key.")
    reason: str | None = None


class Adjust(RequestBody):
    amount: int = Field(description="Positive adds, negative takes away.")
    key: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1)
    expiry: str = "never"


class Campaign(RequestBody):
    key: str = Field(min_length=1, max_length=200)
    amount: int = Field(gt=0)
    user_ids: list[str] = Field(min_length=1)
    expiry: str = "never"
    maturity_days: int = Field(default=0, ge=0)
    reason: str | None = None


@router.get("/points/economy", summary="The points economy report")
def get_economy(
    request: Request,
    operator: Viewer,
    start: Annotated[date, Query(alias="from", description="First local day.")],
    end: Annotated[date | None, Query(alias="to", description="Last local day (today).")] = None,
    scheme: Annotated[str | None, Query(description="Add a scheme's levels.")] = None,
) -> Json:
    settings = settings_of(request)
    return economy.report(
        runtime_of(request).engine,
        start=start,
        end=end or datetime.now(settings.tz).date(),
        tz=settings.tz,
        scheme=scheme,
    )


@router.post("/points/campaigns", summary="Give many users the same points, once per key")
def post_campaign(request: Request, operator: Changer, body: Campaign) -> Json:
    settings = settings_of(request)
    return points.award_campaign(
        runtime_of(request).engine,
        key=body.key,
        user_ids=body.user_ids,
        amount=body.amount,
        expiry=body.expiry,
        maturity_days=body.maturity_days,
        reference=body.key,
        reason=body.reason,
        actor=operator.username,
        tz=settings.tz,
    ).as_json()


@router.get("/points/{user_id:path}/ledger", summary="A user's points ledger, newest first")
def get_ledger(
    request: Request,
    user_id: str,
    operator: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Json]:
    entries = points.statement(
        runtime_of(request).engine, user_id=user_id, limit=limit, offset=offset
    )
    return [e.as_json() for e in entries]


@router.get("/points/{user_id:path}", summary="A user's points balance")
def get_balance(request: Request, user_id: str, operator: Viewer) -> Json:
    return points.balance(runtime_of(request).engine, user_id=user_id).as_json()


@router.post("/points/{user_id:path}/award", summary="Give a user points")
def post_award(request: Request, user_id: str, operator: Changer, body: Award) -> Json:
    return points.award(
        runtime_of(request).engine,
        user_id=user_id,
        amount=body.amount,
        key=body.key,
        reason=body.reason,
        reference=body.reference,
        maturity_days=body.maturity_days,
        expiry=body.expiry,
        actor=operator.username,
        tz=settings_of(request).tz,
    ).as_json()


@router.post("/points/{user_id:path}/redeem", summary="Spend a user's points (409 when too few)")
def post_redeem(request: Request, user_id: str, operator: Changer, body: Redeem) -> Json:
    return points.redeem(
        runtime_of(request).engine,
        user_id=user_id,
        amount=body.amount,
        key=body.key,
        reference=body.reference,
        reason=body.reason,
        actor=operator.username,
    ).as_json()


@router.post("/points/{user_id:path}/reverse", summary="Reverse an entry or an order")
def post_reverse(request: Request, user_id: str, operator: Changer, body: Reverse) -> Json:
    return points.reverse(
        runtime_of(request).engine,
        user_id=user_id,
        key=body.key,
        entry_key=body.entry_key,
        reference=body.order,
        amount=body.amount,
        reason=body.reason,
        actor=operator.username,
    ).as_json()


@router.post("/points/{user_id:path}/adjust", summary="Correct a user's balance")
def post_adjust(request: Request, user_id: str, operator: Changer, body: Adjust) -> Json:
    return points.adjust(
        runtime_of(request).engine,
        user_id=user_id,
        amount=body.amount,
        key=body.key,
        reason=body.reason,
        expiry=body.expiry,
        actor=operator.username,
        tz=settings_of(request).tz,
    ).as_json()


# Levels ------------------------------------------------------------------------------------


class LevelIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    threshold: int = Field(ge=0)
    invite_only: bool = False


class SchemeIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    policy: str = Field(default="only_up", examples=["only_up", "up_down"])
    window_months: int | None = None
    keep_days: int = 0
    notice_days: int = 0
    levels: list[LevelIn] = Field(min_length=1, description="Lowest level first.")


class AssignIn(RequestBody):
    level: str
    on: date | None = None
    until: date | None = None
    reason: str | None = None


class EvaluateIn(RequestBody):
    on: date | None = Field(default=None, description="The local day (default today).")
    scheme: str | None = None


@router.get("/levels/schemes", summary="Level schemes and their levels")
def get_schemes(request: Request, operator: Viewer) -> list[Json]:
    return [s.as_json() for s in levels.list_schemes(runtime_of(request).engine)]


@router.post("/levels/schemes", status_code=201, summary="Create a level scheme")
def post_scheme(request: Request, operator: Changer, body: SchemeIn) -> Json:
    return levels.create_scheme(
        runtime_of(request).engine,
        code=body.code,
        name=body.name,
        levels=[LevelSpec(lv.code, lv.name, lv.threshold, lv.invite_only) for lv in body.levels],
        policy=body.policy,  # type: ignore[arg-type]
        window_months=body.window_months,
        keep_days=body.keep_days,
        notice_days=body.notice_days,
        actor=operator.username,
    ).as_json()


@router.post("/levels/evaluate", summary="Evaluate every user's level for a day")
def post_evaluate(request: Request, operator: Changer, body: EvaluateIn) -> Json:
    settings = settings_of(request)
    runtime = runtime_of(request)
    run = levels.evaluate(
        runtime.engine,
        on=body.on or datetime.now(settings.tz).date(),
        tz=settings.tz,
        scheme=body.scheme,
    )
    with runtime.warehouse() as wh:
        published = levels.publish_level_events(runtime.engine, wh, tz=settings.tz)
    return {**run.as_json(), "published": published}


@router.get("/levels/{scheme}/members/{user_id:path}", summary="Where a user stands in a scheme")
def get_member(request: Request, scheme: str, user_id: str, operator: Viewer) -> Json:
    return levels.member_level(runtime_of(request).engine, scheme=scheme, user_id=user_id).as_json()


@router.post("/levels/{scheme}/members/{user_id:path}/assign", summary="Put a user on a level")
def post_assign(
    request: Request, scheme: str, user_id: str, operator: Changer, body: AssignIn
) -> Json:
    settings = settings_of(request)
    return levels.assign_level(
        runtime_of(request).engine,
        scheme=scheme,
        user_id=user_id,
        level=body.level,
        on=body.on or datetime.now(settings.tz).date(),
        until=body.until,
        actor=operator.username,
        reason=body.reason,
    ).as_json()


@router.get("/levels/history/{user_id:path}", summary="A user's level history")
def get_level_history(
    request: Request, user_id: str, operator: Viewer, scheme: str | None = None
) -> list[Json]:
    found = levels.history(runtime_of(request).engine, user_id=user_id, scheme=scheme)
    return [h.as_json() for h in found]


@router.get("/levels/{scheme}/distribution", summary="Users per level at the end of a day")
def get_distribution(
    request: Request, scheme: str, operator: Viewer, on: date | None = None
) -> list[Json]:
    settings = settings_of(request)
    return levels.distribution(
        runtime_of(request).engine, scheme=scheme, on=on or datetime.now(settings.tz).date()
    )


@router.get("/levels/{scheme}/migration", summary="Level migration between two days")
def get_migration(
    request: Request,
    scheme: str,
    operator: Viewer,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> list[Json]:
    return levels.migration(runtime_of(request).engine, scheme=scheme, start=start, end=end)


# Benefits ----------------------------------------------------------------------------------


class BenefitIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    kind: str = Field(examples=["free_shipping", "points_multiplier"])
    description: str | None = None


class GrantIn(RequestBody):
    scheme: str
    level: str
    benefit: str
    value: int = 0
    quota: int | None = None
    period: str | None = Field(default=None, examples=["month"])


class UseIn(RequestBody):
    benefit: str
    key: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, gt=0)
    reference: str | None = None


@router.get("/benefits", summary="The benefits catalogue")
def get_benefits(request: Request, operator: Viewer) -> list[Json]:
    return [b.as_json() for b in benefits.list_benefits(runtime_of(request).engine)]


@router.post("/benefits", status_code=201, summary="Add a benefit to the catalogue")
def post_benefit(request: Request, operator: Changer, body: BenefitIn) -> Json:
    return benefits.create_benefit(
        runtime_of(request).engine,
        code=body.code,
        name=body.name,
        kind=body.kind,
        description=body.description,
        actor=operator.username,
    ).as_json()


@router.post("/benefits/grants", summary="Let a level grant a benefit")
def post_grant(request: Request, operator: Changer, body: GrantIn) -> Json:
    benefits.grant_benefit(
        runtime_of(request).engine,
        scheme=body.scheme,
        level=body.level,
        benefit=body.benefit,
        value=body.value,
        quota=body.quota,
        period=body.period,  # type: ignore[arg-type]
        actor=operator.username,
    )
    return {"levels": benefits.catalogue(runtime_of(request).engine, scheme=body.scheme)}


@router.get("/benefits/catalogue/{scheme}", summary="What each level of a scheme grants")
def get_catalogue(request: Request, scheme: str, operator: Viewer) -> list[Json]:
    return benefits.catalogue(runtime_of(request).engine, scheme=scheme)


@router.get("/benefits/entitlements/{user_id:path}", summary="What a user is entitled to now")
def get_entitlements(request: Request, user_id: str, operator: Viewer) -> list[Json]:
    found = benefits.entitlements(
        runtime_of(request).engine, user_id=user_id, tz=settings_of(request).tz
    )
    return [e.as_json() for e in found]


@router.post("/benefits/use/{user_id:path}", summary="Use a benefit (within its quota)")
def post_use(request: Request, user_id: str, operator: Changer, body: UseIn) -> Json:
    return benefits.use_benefit(
        runtime_of(request).engine,
        user_id=user_id,
        benefit=body.benefit,
        key=body.key,
        quantity=body.quantity,
        reference=body.reference,
        actor=operator.username,
        tz=settings_of(request).tz,
    ).as_json()


# Incentive rules ---------------------------------------------------------------------------


class FormulaIn(RequestBody):
    mode: str = Field(default="none", examples=["fixed", "per_amount"])
    value: int = 0
    unit_cents: int = 100


class CapsIn(RequestBody):
    day: int | None = None
    period: int | None = None
    lifetime: int | None = None


class RuleIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    event: str = Field(min_length=1, examples=["purchase"])
    filters: list[dict[str, Any]] = Field(
        default_factory=list, examples=[[{"property": "category", "op": "eq", "value": "图书"}]]
    )
    points: FormulaIn = FormulaIn()
    growth: FormulaIn = FormulaIn()
    points_caps: CapsIn = CapsIn()
    growth_caps: CapsIn = CapsIn()
    cap_period: str = "month"
    multiplier_scheme: str | None = None
    maturity_days: int = 0
    expiry: str = "never"
    reference_property: str | None = "order_id"
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@router.get("/rules", summary="Incentive rules")
def get_rules(request: Request, operator: Viewer) -> list[Json]:
    return [r.as_json() for r in rules.list_rules(runtime_of(request).engine)]


@router.post("/rules", status_code=201, summary="Define an incentive rule")
def post_rule(request: Request, operator: Changer, body: RuleIn) -> Json:
    def formula(f: FormulaIn) -> AwardFormula:
        return AwardFormula(f.mode, f.value, f.unit_cents)  # type: ignore[arg-type]

    return rules.create_rule(
        runtime_of(request).engine,
        code=body.code,
        name=body.name,
        event=body.event,
        filters=body.filters,
        points=formula(body.points),
        growth=formula(body.growth),
        points_caps=Caps(**body.points_caps.model_dump()),
        growth_caps=Caps(**body.growth_caps.model_dump()),
        cap_period=body.cap_period,  # type: ignore[arg-type]
        multiplier_scheme=body.multiplier_scheme,
        maturity_days=body.maturity_days,
        expiry=body.expiry,
        reference_property=body.reference_property,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        actor=operator.username,
    ).as_json()


@router.post("/rules/{code}/pause", summary="Pause a rule")
def post_pause(request: Request, code: str, operator: Changer) -> Json:
    return _set_active(request, code, False, operator)


@router.post("/rules/{code}/resume", summary="Resume a paused rule")
def post_resume(request: Request, code: str, operator: Changer) -> Json:
    return _set_active(request, code, True, operator)


def _set_active(request: Request, code: str, active: bool, operator: OperatorInfo) -> Json:
    return rules.set_rule_active(
        runtime_of(request).engine, code=code, active=active, actor=operator.username
    ).as_json()


@router.post("/rules/backfill", summary="Apply the rules to the stored events, once each")
def post_backfill(request: Request, operator: Changer) -> Json:
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        return rules.backfill(runtime.engine, wh, tz=settings_of(request).tz).as_json()


# Badges and leaderboards -------------------------------------------------------------------


class TierIn(RequestBody):
    threshold: int = Field(gt=0)
    name: str


class BadgeIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    kind: str = Field(examples=["event_count", "streak", "top_rank"])
    tiers: list[TierIn] = Field(min_length=1)
    event: str | None = None
    filters: list[dict[str, Any]] = Field(default_factory=list)
    leaderboard: str | None = None


class BoardIn(RequestBody):
    code: str = Field(min_length=1, max_length=64)
    name: str = ""
    metric: str = Field(examples=["points_earned", "event_count"])
    period: str = "month"
    size: int = 100
    event: str | None = None


@router.get("/badges", summary="Badges")
def get_badges(request: Request, operator: Viewer) -> list[Json]:
    return [b.as_json() for b in badges.list_badges(runtime_of(request).engine)]


@router.post("/badges", status_code=201, summary="Define a badge")
def post_badge(request: Request, operator: Changer, body: BadgeIn) -> Json:
    return badges.create_badge(
        runtime_of(request).engine,
        code=body.code,
        name=body.name,
        kind=body.kind,  # type: ignore[arg-type]
        tiers=[Tier(t.threshold, t.name) for t in body.tiers],
        event=body.event,
        filters=body.filters,
        leaderboard=body.leaderboard,
        actor=operator.username,
    ).as_json()


@router.post("/badges/evaluate", summary="Award every badge tier reached so far")
def post_evaluate_badges(request: Request, operator: Changer) -> Json:
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        return badges.evaluate_badges(runtime.engine, wh, tz=settings_of(request).tz).as_json()


@router.get("/badges/users/{user_id:path}", summary="A user's badges")
def get_user_badges(request: Request, user_id: str, operator: Viewer) -> list[Json]:
    return badges.user_badges(runtime_of(request).engine, user_id=user_id)


@router.get("/leaderboards", summary="Leaderboards")
def get_boards(request: Request, operator: Viewer) -> list[Json]:
    return [b.as_json() for b in leaderboards.list_leaderboards(runtime_of(request).engine)]


@router.post("/leaderboards", status_code=201, summary="Define a leaderboard")
def post_board(request: Request, operator: Changer, body: BoardIn) -> Json:
    return leaderboards.create_leaderboard(
        runtime_of(request).engine,
        code=body.code,
        name=body.name,
        metric=body.metric,
        period=body.period,
        size=body.size,
        event=body.event,
        actor=operator.username,
    ).as_json()


@router.get("/leaderboards/{code}", summary="Stored standings of a period")
def get_standings(request: Request, code: str, operator: Viewer, on: date | None = None) -> Json:
    settings = settings_of(request)
    return leaderboards.standings(
        runtime_of(request).engine, code=code, day=on or datetime.now(settings.tz).date()
    ).as_json()


@router.post("/leaderboards/{code}/compute", summary="Rank a period and store it")
def post_compute(request: Request, code: str, operator: Changer, on: date | None = None) -> Json:
    settings = settings_of(request)
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        return leaderboards.compute(
            runtime.engine,
            code=code,
            day=on or datetime.now(settings.tz).date(),
            wh=wh,
            tz=settings.tz,
        ).as_json()
