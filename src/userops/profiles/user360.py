"""The user 360 (用户360 / 全景画像): one user on one page, and finding them.

`profile(...)` gathers the user's traits, every current tag value (with the tag's and the
value's names), the RFM scores, the history of their lifecycle stage, value grade and RFM group
(from the daily snapshots, one entry per change), the newest events (`timeline` pages further)
and a membership summary (points, levels). `search(...)` finds users by user id, phone or email.

**Personal data.** Phone and email are masked (`138****5678`, `z***@example.com`) for every role
below admin; `mask_contact` is the one place that decides it, and the faces only say whether
the caller may see them (`may_see_contact(role)`). To keep a masked searcher from recovering a
number digit by digit, only admins search phone and email by prefix; other roles must give the
whole phone number or email (user ids match by prefix for everyone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import ibis
import orjson
from sqlalchemy import Engine

from userops.analytics.base import Source
from userops.domain.audience import (
    contact_comparison,
    located_tag_rules,
    parse_rule,
    parse_rule_tag,
)
from userops.domain.bounds import check_offset
from userops.domain.contract import CONTROL_CHARACTERS
from userops.domain.roles import allows
from userops.errors import ForbiddenError, InputError, NotFoundError
from userops.membership import levels, points
from userops.profiles import tagvalues, taxonomy
from userops.profiles.taxonomy import TagInfo

HISTORY_TAGS: Final = ("lifecycle_stage", "value_grade", "rfm_group")
RFM_TAGS: Final = {"group": "rfm_group", "r": "rfm_r", "f": "rfm_f", "m": "rfm_m"}
TRAITS: Final = (
    "user_id",
    "created_at",
    "channel",
    "gender",
    "birthday",
    "province",
    "city",
    "occupation",
    "phone",
    "email",
    "updated_at",
)
CONTACT: Final = ("phone", "email")
MAX_PAGE: Final = 200
SEARCH_LIMIT: Final = 20


# -- personal data ---------------------------------------------------------------------------


def may_see_contact(role: str) -> bool:
    """Whether a role sees phone numbers and emails unmasked (admins only)."""
    return allows(role, "admin")


def check_contact_rule(role: str, *, rule: Any = None, tag_definition: Any = None) -> None:
    """Refuse a segment's rule (or a rule tag's definition) that compares phone or email values
    when `role` sees them masked: its counts would reveal them. A rule that does not parse
    passes: the call this guards names its bad part."""
    if may_see_contact(role):
        return
    try:
        if tag_definition is not None:
            rules = located_tag_rules(parse_rule_tag(tag_definition))
        else:
            rules = {"rule": parse_rule(rule)}
    except InputError:
        return
    path = contact_comparison(rules)
    if path is not None:
        raise ForbiddenError(
            f"{path}: comparing phone or email needs the admin role (your role sees them "
            "masked); 'is_set' and 'not_set' are allowed"
        )


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 characters of a number of 7 or more (138****5678)."""
    text = phone.strip()
    if len(text) >= 7:
        return text[:3] + "****" + text[-4:]
    if len(text) < 3:
        return "*" * len(text)
    return "*" * (len(text) - 2) + text[-2:]


def mask_email(email: str) -> str:
    local, at, domain = email.strip().partition("@")
    if not at:
        return mask_phone(email)
    return f"{local[:1]}***@{domain}"


def mask_contact(record: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """`record` with its phone and email masked unless `reveal` (the one place that masks)."""
    if reveal:
        return record
    out = dict(record)
    for key, mask in (("phone", mask_phone), ("email", mask_email)):
        value = out.get(key)
        if isinstance(value, str) and value:
            out[key] = mask(value)
    return out


# -- values ------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _bag(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes) and value:
        try:
            loaded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class TagValue:
    code: str
    name: str
    name_en: str | None
    category: str
    value_type: str
    value: str
    label: str | None
    label_en: str | None
    number: float | None
    refreshed_at: datetime | None  # the tag's last refresh
    since: datetime | None  # the refresh that set this value: the user has held it since

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "category": self.category,
            "value_type": self.value_type,
            "value": self.value,
            "label": self.label,
            "label_en": self.label_en,
            "number": self.number,
            "refreshed_at": _json(self.refreshed_at),
            "since": _json(self.since),
        }


def _tag_value(info: TagInfo | None, row: dict[str, Any]) -> TagValue:
    label = info.label(row["value"]) if info is not None else None
    return TagValue(
        code=row["tag"],
        name=info.name if info else row["tag"],
        name_en=info.name_en if info else None,
        category=info.category if info else "",
        value_type=info.value_type if info else "",
        value=row["value"],
        label=label.name if label else None,
        label_en=label.name_en if label else None,
        number=row["number"],
        refreshed_at=info.refreshed_at if info is not None else None,
        since=row["refreshed_at"],
    )


# -- timeline ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeline:
    user_id: str
    events: tuple[dict[str, Any], ...]
    limit: int
    offset: int
    has_more: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "events": list(self.events),
            "limit": self.limit,
            "offset": self.offset,
            "has_more": self.has_more,
        }


_CONTROL = re.compile(CONTROL_CHARACTERS)


def _checked(text: str, what: str) -> str:
    """Input that names a user: no stored id holds a control character (ingestion refuses
    them), and the warehouse's SQL must never be handed one."""
    if _CONTROL.search(text):
        raise InputError(f"the {what} contains a control character")
    return text


def timeline(source: Source, user_id: str, *, limit: int = 50, offset: int = 0) -> Timeline:
    """The user's events, newest first (ties by message id): theirs by id, and anonymous ones
    of devices linked to them."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be 1 to {MAX_PAGE}")
    check_offset(offset)
    _checked(user_id, "user id")
    events = source.table("events")
    ids = source.table("identities")
    linked = ids.filter(ids.user_id == user_id).anonymous_id
    mine = events.filter(
        (events.user_id == user_id) | (events.user_id.isnull() & events.anonymous_id.isin(linked))
    )
    page = mine.order_by([ibis.desc("timestamp"), ibis.desc("message_id")])
    page = page.select(
        "message_id",
        "type",
        "event",
        "timestamp",
        "revenue",
        "currency",
        "item_id",
        "category",
        "anonymous_id",
        "properties",
    ).limit(limit + 1, offset=offset)
    rows = page.to_pyarrow().to_pylist()
    out = []
    for row in rows[:limit]:
        out.append(
            {
                **{k: _json(v) for k, v in row.items() if k not in {"properties", "revenue"}},
                "revenue": str(row["revenue"]) if row["revenue"] is not None else None,
                "properties": _bag(row["properties"]),
            }
        )
    return Timeline(user_id, tuple(out), limit, offset, len(rows) > limit)


# -- the profile -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    traits: dict[str, Any] | None  # the users row (None: the user is known from events only)
    custom: dict[str, Any]
    tags: tuple[TagValue, ...]
    history: dict[str, list[dict[str, Any]]]
    timeline: Timeline
    membership: dict[str, Any] = field(default_factory=dict)

    def tag(self, code: str) -> TagValue | None:
        return next((t for t in self.tags if t.code == code), None)

    def rfm(self) -> dict[str, Any] | None:
        group = self.tag(RFM_TAGS["group"])
        if group is None:
            return None
        scores = {}
        for key in ("r", "f", "m"):
            value = self.tag(RFM_TAGS[key])
            scores[key] = int(value.number) if value and value.number is not None else None
        return {
            "group": group.value,
            "label": group.label,
            "label_en": group.label_en,
            **scores,
        }

    def as_json(self, *, reveal: bool) -> dict[str, Any]:
        traits = None
        if self.traits is not None:
            traits = mask_contact({k: _json(v) for k, v in self.traits.items()}, reveal=reveal)
        return {
            "user_id": self.user_id,
            "traits": traits,
            "custom_traits": self.custom,
            "tags": [t.as_json() for t in self.tags],
            "rfm": self.rfm(),
            "lifecycle_stage": _current(self.tag("lifecycle_stage")),
            "value_grade": _current(self.tag("value_grade")),
            "history": self.history,
            "timeline": self.timeline.as_json(),
            "membership": self.membership,
        }


def _current(value: TagValue | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"value": value.value, "label": value.label, "label_en": value.label_en}


def _changes(rows: list[dict[str, Any]], info: TagInfo | None) -> list[dict[str, Any]]:
    """Snapshots collapsed to the days the value changed (oldest first)."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if out and out[-1]["value"] == row["value"]:
            out[-1]["until"] = row["snapshot_date"].isoformat()
            continue
        label = info.label(row["value"]) if info else None
        out.append(
            {
                "since": row["snapshot_date"].isoformat(),
                "until": row["snapshot_date"].isoformat(),
                "value": row["value"],
                "label": label.name if label else None,
                "label_en": label.name_en if label else None,
            }
        )
    return out


def _membership(engine: Engine, user_id: str) -> dict[str, Any]:
    balance = points.balance(engine, user_id=user_id)
    schemes = []
    for scheme in levels.list_schemes(engine):
        if not scheme.is_active:
            continue
        info = levels.member_level(engine, scheme=scheme.code, user_id=user_id)
        schemes.append(
            {
                "scheme": scheme.code,
                "scheme_name": scheme.name,
                "level": info.level,
                "level_name": info.level_name,
                "since": _json(info.since),
                "growth": info.growth,
            }
        )
    return {
        "points": {"available": balance.available, "pending": balance.pending},
        "levels": schemes,
    }


def _user_row(source: Source, user_id: str) -> dict[str, Any] | None:
    users = source.table("users")
    rows = users.filter(users.user_id == user_id).select(*TRAITS, "traits").to_pyarrow()
    found = rows.to_pylist()
    return found[0] if found else None


def _seen_in_events(source: Source, user_id: str) -> bool:
    events = source.table("events")
    hits = events.filter(events.user_id == user_id).select("message_id").limit(1)
    return bool(hits.to_pyarrow().num_rows)


def profile(
    engine: Engine,
    source: Source,
    user_id: str,
    *,
    limit: int = 20,
    membership: bool = True,
) -> Profile:
    """Everything userops knows about one user; NotFoundError when it knows nothing."""
    user_id = _checked(user_id.strip(), "user id")
    if not user_id:
        raise InputError("give a user id")
    row = _user_row(source, user_id)
    values = tagvalues.user_values(source, user_id)
    if row is None and not values and not _seen_in_events(source, user_id):
        raise NotFoundError(f"no user {user_id!r}")
    infos = taxonomy.tag_names(engine)
    tags = tuple(_tag_value(infos.get(v["tag"]), v) for v in values)
    snapshots = tagvalues.user_history(source, user_id, list(HISTORY_TAGS))
    history = {
        code: _changes([s for s in snapshots if s["tag"] == code], infos.get(code))
        for code in HISTORY_TAGS
    }
    custom = _bag(row.pop("traits")) if row is not None else {}
    return Profile(
        user_id=user_id,
        traits=row,
        custom=custom,
        tags=tags,
        history=history,
        timeline=timeline(source, user_id, limit=limit),
        membership=_membership(engine, user_id) if membership else {},
    )


# -- search ------------------------------------------------------------------------------------


def search(
    source: Source, query: str, *, reveal: bool, limit: int = SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Users whose id starts with `query`, or whose phone or email is `query` (admins: starts
    with it); at most `limit`, by user id. Phone and email come back masked unless `reveal`."""
    text = _checked(query.strip(), "search")
    if not text:
        raise InputError("give a user id, phone number or email to search for")
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be 1 to {MAX_PAGE}")
    users = source.table("users")
    email = users.email.lower()
    wanted = text.lower()
    if reveal:
        match = (
            users.user_id.startswith(text) | users.phone.startswith(text) | email.startswith(wanted)
        )
    else:
        match = users.user_id.startswith(text) | (users.phone == text) | (email == wanted)
    found = users.filter(match).select("user_id", "phone", "email", "channel", "city", "created_at")
    rows = found.order_by("user_id").limit(limit).to_pyarrow().to_pylist()
    out = [mask_contact({k: _json(v) for k, v in r.items()}, reveal=reveal) for r in rows]
    if not any(r["user_id"] == text for r in out) and _seen_in_events(source, text):
        out.insert(0, {"user_id": text, "phone": None, "email": None, "channel": None,
                       "city": None, "created_at": None})  # fmt: skip
        out = out[:limit]
    return out
