"""The JSON API of profiles: the tag taxonomy, computed tags and their parameters, tag refresh,
migrations between days, and the user 360 with search and the event timeline
(docs/profiles.md, docs/models.md).

Reads need any signed-in operator (`view`); changes need the `change` permission (operator or
admin) and the session's CSRF header. Phone numbers and emails in profiles and search results
are masked for every role below admin (`user360.may_see_contact`). A refresh runs in the
background (it may outlast a request): POST answers 202 with the run id, GET
/api/tags/refresh/runs/{id} follows it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import Field

from userops.api.bodies import RequestBody
from userops.api.deps import Viewer, check_csrf, require, runtime_of, settings_of
from userops.profiles import history, refresh, tagvalues, taxonomy, user360
from userops.services.auth import OperatorInfo

router = APIRouter(prefix="/api", tags=["profiles"], dependencies=[Depends(check_csrf)])

Changer = Annotated[OperatorInfo, Depends(require("change"))]
Json = dict[str, Any]


# -- taxonomy --------------------------------------------------------------------------------


class CategoryIn(RequestBody):
    code: str = Field(description="A slug: lowercase letters, digits and _.", examples=["pets"])
    name: str = Field(examples=["宠物"])
    name_en: str | None = Field(default=None, examples=["Pets"])
    parent: str | None = Field(default=None, description="Make it a sub-category of this one.")
    position: int | None = Field(default=None, ge=0, le=1_000_000, description="Order: 0 first.")


class CategoryPatch(RequestBody):
    name: str | None = None
    name_en: str | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000, description="Order: 0 first.")


class TagIn(RequestBody):
    code: str = Field(examples=["rfm90_group"])
    name: str
    name_en: str | None = None
    category: str = Field(description="The category's code.")
    value_type: str = Field(description="boolean, enum, number or date.")
    kind: str = Field(default="computed", description="computed (rule and imported tags are "
                      "made through their own APIs).")  # fmt: skip
    definition: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"model": "rfm", "output": "group", "params": {"lookback_days": 90}}],
    )
    description: str | None = Field(default=None, description="What the tag means (Chinese).")
    description_en: str | None = Field(default=None, description="The same in English.")
    owner: str | None = None
    schedule: str = Field(default="daily", description="daily or manual.")


class TagPatch(RequestBody):
    """Fields left out stay as they are; `null` clears an optional text."""

    name: str | None = None
    name_en: str | None = None
    description: str | None = None
    description_en: str | None = None
    owner: str | None = None
    category: str | None = None
    schedule: str | None = None
    is_active: bool | None = None


class ParamsIn(RequestBody):
    params: dict[str, Any] = Field(examples=[{"scoring": "threshold", "lookback_days": 180}])
    replace: bool = Field(default=False, description="Replace instead of merging.")


class RuleIn(RequestBody):
    definition: dict[str, Any] = Field(
        examples=[{"when": {"event": "purchase", "within_days": 30, "op": ">=", "value": 3}}],
        description='{"when": RULE} (boolean tag) or {"cases": [...], "else": "B"} (enum tag).',
    )


class RefreshIn(RequestBody):
    tags: list[str] | None = Field(default=None, description="Only these tags (default: all).")
    force: bool = Field(default=False, description="Recompute tags whose inputs did not change.")
    date: dt.date | None = Field(default=None, description="The local day (default today).")


@router.get("/tags/categories", summary="The tag categories, each followed by its subs")
def get_categories(request: Request, operator: Viewer) -> list[Json]:
    return [c.as_json() for c in taxonomy.list_categories(runtime_of(request).engine)]


@router.post("/tags/categories", status_code=201, summary="Add a category or sub-category")
def post_category(request: Request, operator: Changer, body: CategoryIn) -> Json:
    return taxonomy.create_category(
        runtime_of(request).engine, **body.model_dump(), actor=operator.username
    ).as_json()


@router.patch("/tags/categories/{code}", summary="Rename or move a category")
def patch_category(request: Request, code: str, operator: Changer, body: CategoryPatch) -> Json:
    return taxonomy.update_category(
        runtime_of(request).engine, code=code, **body.model_dump(), actor=operator.username
    ).as_json()


@router.delete("/tags/categories/{code}", status_code=204, summary="Remove an empty category")
def delete_category(request: Request, code: str, operator: Changer) -> None:
    taxonomy.delete_category(runtime_of(request).engine, code=code, actor=operator.username)


# -- refresh (before /tags/{code}, whose path would swallow it) ----------------------------


@router.post(
    "/tags/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Refresh tags in the background (then the dynamic segments)",
)
def post_refresh(request: Request, operator: Changer, body: RefreshIn | None = None) -> Json:
    body = body or RefreshIn()
    runtime, settings = runtime_of(request), settings_of(request)
    run_id = refresh.launch(
        runtime.engine,
        runtime.warehouse,
        today=body.date or dt.datetime.now(settings.tz).date(),
        tz=settings.tz,
        tags=body.tags,
        force=body.force,
        trigger=f"api:{operator.username}",
    )
    return {"run_id": run_id, "status": "running"}


@router.get("/tags/refresh/runs", summary="The latest refresh runs, newest first")
def get_runs(
    request: Request, operator: Viewer, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[Json]:
    return [r.as_json() for r in refresh.list_runs(runtime_of(request).engine, limit=limit)]


@router.get("/tags/refresh/runs/{run_id}", summary="One refresh run")
def get_run(request: Request, run_id: int, operator: Viewer) -> Json:
    return refresh.get_run(runtime_of(request).engine, run_id).as_json()


# -- tags ----------------------------------------------------------------------------------


@router.get("/tags", summary="Every tag (filter by category, kind)")
def get_tags(
    request: Request,
    operator: Viewer,
    category: str | None = None,
    kind: str | None = None,
) -> list[Json]:
    found = taxonomy.list_tags(runtime_of(request).engine, category=category, kind=kind)
    return [t.as_json() for t in found]


@router.post("/tags", status_code=201, summary="Add a tag (a computed one: model and params)")
def post_tag(request: Request, operator: Changer, body: TagIn) -> Json:
    if body.kind == "rule":
        user360.check_contact_rule(operator.role, tag_definition=body.definition)
    return taxonomy.create_tag(
        runtime_of(request).engine, **body.model_dump(), actor=operator.username
    ).as_json()


@router.get("/tags/{code}", summary="One tag, its parameters and its values' distribution")
def get_tag(request: Request, code: str, operator: Viewer) -> Json:
    runtime = runtime_of(request)
    info = taxonomy.get_tag(runtime.engine, code)
    params = taxonomy.resolved_params(runtime.engine, code) if info.kind == "computed" else None
    with runtime.warehouse() as wh:
        counts = tagvalues.distribution(wh, code)
    for row in counts:
        label = info.label(row["value"])
        row["name"], row["name_en"] = (label.name, label.name_en) if label else (None, None)
    return {**info.as_json(), "params": params, "distribution": counts}


@router.patch("/tags/{code}", summary="Rename, describe, move, reschedule or switch off a tag")
def patch_tag(request: Request, code: str, operator: Changer, body: TagPatch) -> Json:
    fields = body.model_dump(include=body.model_fields_set)
    return taxonomy.update_tag(
        runtime_of(request).engine, code=code, **fields, actor=operator.username
    ).as_json()


@router.put("/tags/{code}/params", summary="Change a computed tag's parameters")
def put_params(request: Request, code: str, operator: Changer, body: ParamsIn) -> Json:
    return taxonomy.set_params(
        runtime_of(request).engine,
        code=code,
        params=body.params,
        replace=body.replace,
        actor=operator.username,
    ).as_json()


@router.put("/tags/{code}/rule", summary="Change a rule tag's rule")
def put_rule(request: Request, code: str, operator: Changer, body: RuleIn) -> Json:
    user360.check_contact_rule(operator.role, tag_definition=body.definition)
    return taxonomy.set_rule(
        runtime_of(request).engine, code=code, definition=body.definition, actor=operator.username
    ).as_json()


@router.delete("/tags/{code}", status_code=204, summary="Remove a tag and its values")
def delete_tag(request: Request, code: str, operator: Changer) -> None:
    runtime = runtime_of(request)
    taxonomy.delete_tag(runtime.engine, code=code, actor=operator.username)
    with runtime.warehouse() as wh:
        tagvalues.drop_tag(wh, code)


@router.get("/tags/{code}/migration", summary="Users moving between values from day to day")
def get_migration(
    request: Request,
    code: str,
    operator: Viewer,
    start: Annotated[dt.date, Query(alias="from", description="First day (its latest snapshot).")],
    end: Annotated[dt.date, Query(alias="to", description="Second day (its latest snapshot).")],
) -> Json:
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        return history.migration(runtime.engine, wh, tag=code, start=start, end=end).as_json()


@router.get("/tags/{code}/snapshots", summary="The days a tag has snapshots for")
def get_snapshots(request: Request, code: str, operator: Viewer) -> list[str]:
    taxonomy.get_tag(runtime_of(request).engine, code)
    with runtime_of(request).warehouse() as wh:
        return [d.isoformat() for d in tagvalues.snapshot_dates(wh, code)]


# -- user 360 --------------------------------------------------------------------------------


@router.get("/profiles/search", summary="Find users by user id, phone or email")
def get_search(
    request: Request,
    operator: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Id, phone or email.")],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[Json]:
    reveal = user360.may_see_contact(operator.role)
    with runtime_of(request).warehouse() as wh:
        return user360.search(wh, q, reveal=reveal, limit=limit)


@router.get(
    "/profiles/{user_id:path}/timeline", summary="A page of the user's events, newest first"
)
def get_timeline(
    request: Request,
    user_id: str,
    operator: Viewer,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Json:
    with runtime_of(request).warehouse() as wh:
        return user360.timeline(wh, user_id, limit=limit, offset=offset).as_json()


@router.get("/profiles/{user_id:path}", summary="One user's 360 view")
def get_profile(
    request: Request,
    user_id: str,
    operator: Viewer,
    events: Annotated[int, Query(ge=1, le=200, description="Newest events to include.")] = 20,
) -> Json:
    runtime = runtime_of(request)
    with runtime.warehouse() as wh:
        found = user360.profile(runtime.engine, wh, user_id, limit=events)
    return found.as_json(reveal=user360.may_see_contact(operator.role))
