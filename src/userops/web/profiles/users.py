"""The user 360 (用户360): find a user by id, phone or email, and one page per user: traits,
every current tag grouped by category, the RFM scores, the history of their lifecycle stage,
value grade and RFM group, the event timeline (paged in place), and the membership panel.

Phone numbers and emails are masked for every role below admin by the service
(`user360.may_see_contact`, `Profile.as_json(reveal=...)`, `search(..., reveal=...)`); the pages
show what the service gives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from userops.errors import InputError, NotFoundError
from userops.profiles import taxonomy, user360
from userops.web.deps import Viewer, runtime_of
from userops.web.profiles.common import PREFIX, engine_of, is_htmx, named, not_found
from userops.web.rendering import render

router = APIRouter(prefix=PREFIX)

TIMELINE_PAGE: Final = 20
HISTORY_TAGS: Final = user360.HISTORY_TAGS


def user_path(user_id: str) -> str:
    return f"{PREFIX}/users/{quote(user_id, safe='')}"


@router.get("/users")
def search_page(request: Request, operator: Viewer, q: str | None = None) -> Response:
    wanted = (q or "").strip()
    found: list[dict[str, Any]] | None = None
    error = None
    if wanted:
        reveal = user360.may_see_contact(operator.role)
        try:
            with runtime_of(request).warehouse() as wh:
                found = user360.search(wh, wanted[:200], reveal=reveal)
        except InputError as exc:
            error = str(exc)
        if found is not None and len(found) == 1 and found[0]["user_id"] == wanted:
            return RedirectResponse(user_path(wanted), status_code=303)
    context = {
        "tab": "users",
        "q": wanted,
        "found": found,
        "error": error,
        "user_path": user_path,
        "masked": not user360.may_see_contact(operator.role),
    }
    return render(request, "profiles/users.html", context, status_code=400 if error else 200)


def _grouped_tags(request: Request, tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user's tags under their categories, in the taxonomy's order."""
    names = {
        c.code: named(request, c.name, c.name_en, c.code)
        for c in taxonomy.list_categories(engine_of(request))
    }
    order = list(names)
    groups: dict[str, list[dict[str, Any]]] = {}
    for tag in tags:
        groups.setdefault(tag["category"], []).append(
            {
                **tag,
                "title": named(request, tag["name"], tag["name_en"], tag["code"]),
                "shown": named(request, tag["label"], tag["label_en"], tag["value"]),
                "since_at": datetime.fromisoformat(tag["since"]) if tag.get("since") else None,
            }
        )
    ranked = sorted(groups, key=lambda c: order.index(c) if c in order else len(order))
    return [{"code": c, "name": names.get(c, c), "tags": groups[c]} for c in ranked]


def _timeline(request: Request, user_id: str, page: int) -> dict[str, Any]:
    page = max(page, 1)
    with runtime_of(request).warehouse() as wh:
        found = user360.timeline(
            wh, user_id, limit=TIMELINE_PAGE, offset=(page - 1) * TIMELINE_PAGE
        )
    events = [
        {**e, "at": datetime.fromisoformat(e["timestamp"])} for e in found.as_json()["events"]
    ]
    return {
        "timeline": found,
        "events": events,
        "page": page,
        "base": user_path(user_id),
    }


@router.get("/users/{user_id:path}/timeline")
def timeline(request: Request, user_id: str, operator: Viewer, page: int = 1) -> Response:
    """A page of the timeline: the fragment for htmx, the whole 360 otherwise."""
    if not is_htmx(request):
        return RedirectResponse(f"{user_path(user_id)}?page={max(page, 1)}", status_code=303)
    return render(request, "profiles/_timeline.html", _timeline(request, user_id, page))


@router.get("/users/{user_id:path}")
def user_page(request: Request, user_id: str, operator: Viewer, page: int = 1) -> Response:
    reveal = user360.may_see_contact(operator.role)
    try:
        with runtime_of(request).warehouse() as wh:
            found = user360.profile(engine_of(request), wh, user_id, limit=1, membership=False)
    except NotFoundError:
        return not_found(request)
    except InputError:
        return not_found(request)
    doc = found.as_json(reveal=reveal)
    tag_names = {
        t.code: named(request, t.name, t.name_en, t.code)
        for t in taxonomy.list_tags(engine_of(request))
        if t.code in HISTORY_TAGS
    }
    context = {
        "tab": "users",
        "user": doc,
        "user_id": found.user_id,
        "tag_groups": _grouped_tags(request, doc["tags"]),
        "history_tags": HISTORY_TAGS,
        "tag_names": tag_names,
        "value_name": lambda v: named(request, v.get("label"), v.get("label_en"), v.get("value")),
        "masked": not reveal,
        "panel_url": f"/membership/members/{quote(found.user_id, safe='')}/panel",
        **_timeline(request, found.user_id, page),
    }
    return render(request, "profiles/user.html", context)
