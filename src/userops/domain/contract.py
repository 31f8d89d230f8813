"""The data contract: what an event, a user and an item look like on the way in.

Segment-shaped, so existing tracking code maps 1:1 (docs/data-model.md). These are plain
names and limits; the warehouse maps them to engine types and the ingest pipeline enforces them.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

EventType = Literal["track", "identify", "page", "screen", "alias", "group"]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)

# Segment's limits: one event at most 32 KB, one HTTP batch at most 500 KB.
MAX_EVENT_BYTES: Final = 32 * 1024
MAX_BATCH_BYTES: Final = 500 * 1024
MAX_ID_LENGTH: Final = 256
CONTROL_CHARACTERS: Final = r"[\x00-\x1f\x7f]"
"""A regular expression (Python's and DuckDB's) of the characters no id may hold: a NUL, a tab
or a line break in an id breaks every read of it."""

FieldKind = Literal["id", "text", "timestamp", "date", "json", "decimal"]

# Columns an events file may carry (after column mapping). Anything else is folded into
# `properties`, so nothing a file carries is silently dropped.
EVENT_FIELDS: Final[dict[str, FieldKind]] = {
    "message_id": "id",
    "type": "text",
    "event": "text",
    "user_id": "id",
    "anonymous_id": "id",
    "previous_id": "id",  # alias: the id being merged into user_id
    "group_id": "id",  # group: the account/organisation
    "timestamp": "timestamp",
    "properties": "json",
    "context": "json",
}

# Well-known properties lifted into their own warehouse columns at ingest.
REVENUE_PROPERTY: Final = "revenue"
LIFTED_PROPERTIES: Final[tuple[str, ...]] = ("revenue", "currency", "item_id", "category")

USER_FIELDS: Final[dict[str, FieldKind]] = {
    "user_id": "id",
    "created_at": "timestamp",
    "channel": "text",
    "gender": "text",
    "birthday": "date",
    "province": "text",
    "city": "text",
    "occupation": "text",
    "phone": "text",
    "email": "text",
    "traits": "json",  # free custom traits; other columns of a users file land here too
}

ITEM_FIELDS: Final[dict[str, FieldKind]] = {
    "item_id": "id",
    "name": "text",
    "category": "text",
    "price": "decimal",
    "properties": "json",
}

# The acquisition channels the demo and the docs use; any other string is accepted too.
KNOWN_CHANNELS: Final[tuple[str, ...]] = (
    "paid_search",
    "feed_ads",
    "social",
    "self_media",
    "offline_store",
    "referral",
    "unknown",
)

RecordKind = Literal["events", "users", "items"]
RECORD_FIELDS: Final[dict[str, dict[str, FieldKind]]] = {
    "events": EVENT_FIELDS,
    "users": USER_FIELDS,
    "items": ITEM_FIELDS,
}
# The JSON bag each kind folds unknown columns into.
EXTRA_BAG: Final[dict[str, str]] = {
    "events": "properties",
    "users": "traits",
    "items": "properties",
}
