"""Segment messages as rows of the data contract, for the ingestion API.

The Segment HTTP spec sends camelCase messages (`messageId`, `userId`, `traits`, ...); the
pipeline checks rows named by the data contract (`userops.domain.contract`). This module only
renames and reshapes. It does not judge values: a missing id, a bad timestamp, properties that
are not an object all go through as text, and the same SQL rules as the bulk import reject them
with the same reasons (`userops.ingest.rules`). It refuses only what cannot become a row at all:
an item that is not a JSON object, or one over Segment's 32 KB limit.

How a message becomes rows (docs/decisions/0003-ingestion-api.md):
- events row: messageId, type, userId, anonymousId, previousId (alias), groupId (group) under
  their contract names; `event` is the track's event or the page/screen's `name`; `properties`
  are the call's properties, or the traits of an identify or a group; `context` is the batch's
  context overlaid by the message's, plus any top-level key the spec does not name (such as
  `integrations` or `channel`) when not empty, so nothing sent is dropped.
- timestamp: `timestamp` as sent; else `originalTimestamp` corrected for the device clock as
  Segment does (receivedAt - (sentAt - originalTimestamp)) when `sentAt` is given; else the time
  the request was received.
- an identify with a userId also gives a users row: createdAt/created_at, channel, gender,
  birthday, province, city, occupation, phone and email go to their columns, every other trait
  into the `traits` bag (merged into the stored one by the loader).

Rows are numbered by `__row` = the item's index in the request + 1, in both tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
import pyarrow as pa

from userops.domain.contract import EVENT_FIELDS, EVENT_TYPES, MAX_EVENT_BYTES, USER_FIELDS
from userops.errors import InputError

CALLS: Final[tuple[str, ...]] = ("batch", *EVENT_TYPES)
"""The ingestion endpoints: /v1/batch and one per message type."""

USER_TRAIT_COLUMNS: Final[dict[str, str]] = {
    "createdAt": "created_at",
    "created_at": "created_at",
    **{name: name for name in USER_FIELDS if name not in ("user_id", "created_at", "traits")},
}
"""Identify traits that have their own column in `users`; all others go into `traits`."""

# Keys of a message that this module reads; any other top-level key is kept in `context`.
_READ: Final = frozenset(
    {
        "type",
        "messageId",
        "userId",
        "anonymousId",
        "previousId",
        "groupId",
        "event",
        "name",
        "category",
        "properties",
        "traits",
        "context",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "writeKey",
    }
)

READ_KEYS: Final = _READ
"""The top-level message keys that have a place in the rows; others are kept in `context`."""

_EVENT_SCHEMA: Final = pa.schema(
    [pa.field(name, pa.string()) for name in EVENT_FIELDS] + [pa.field("__row", pa.int64())]
)
_USER_SCHEMA: Final = pa.schema(
    [pa.field(name, pa.string()) for name in USER_FIELDS] + [pa.field("__row", pa.int64())]
)


class PayloadError(InputError):
    """The request as a whole is unusable; `code` is the machine-readable kind of problem."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Refused:
    """An item that could not become a row; `index` is its place in the request (from 0)."""

    index: int
    message_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a request carries besides its messages."""

    items: list[Any]
    write_key: str | None
    sent_at: Any
    context: Any


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows made from one request's messages."""

    events: pa.Table  # EVENT_FIELDS as text, plus __row
    users: pa.Table  # USER_FIELDS as text, plus __row (the identify it came from)
    items: int
    message_ids: tuple[str | None, ...]  # per item, to name a rejected one
    refused: tuple[Refused, ...]


def parse_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("invalid_json", f"the body is not valid JSON: {exc}") from exc


def envelope(doc: Any, call: str) -> Envelope:
    """The messages of a request to /v1/<call> and what applies to all of them."""
    if not isinstance(doc, dict):
        raise PayloadError("invalid_body", "the body must be a JSON object")
    key = doc.get("writeKey")
    write_key = key if isinstance(key, str) and key else None
    if call != "batch":
        return Envelope([doc], write_key, doc.get("sentAt"), None)
    items = doc.get("batch")
    if not isinstance(items, list):
        raise PayloadError(
            "invalid_batch", 'a batch must be a JSON object with a "batch" array of messages'
        )
    return Envelope(items, write_key, doc.get("sentAt"), doc.get("context"))


def _text(value: Any) -> str | None:
    """A JSON value as contract text: strings as they are, numbers and booleans spelled out,
    objects and arrays as JSON (for the rules to judge)."""
    if value is None or type(value) is str:
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _json(value: Any) -> bytes | None:
    """JSON text (as UTF-8 bytes, which Arrow takes for a string column)."""
    return None if value is None else orjson.dumps(value)


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def event_time(item: Mapping[str, Any], sent_at: Any, received_at: datetime) -> str | None:
    """The event's time as text, following Segment's timestamp semantics."""
    stated = item.get("timestamp")
    if stated is not None:
        return _text(stated)
    original = item.get("originalTimestamp")
    if original is None:
        return received_at.isoformat()
    device, sent = _iso(original), _iso(item.get("sentAt", sent_at))
    if device is not None and sent is not None:
        try:
            return (received_at - (sent - device)).isoformat()
        except TypeError:  # one has an offset and the other not: no skew can be measured
            pass
        except OverflowError:  # a skew past the calendar's ends: the device's time is checked
            pass
    return _text(original)


_EMPTY: Final[tuple[Any, ...]] = (None, {}, [], "")


def _context(item: Mapping[str, Any], shared: Any) -> bytes | None:
    """The message's context over the batch's, plus top-level keys the spec does not name."""
    own = item.get("context")
    if own is not None and type(own) is not dict:
        return _json(own)  # not an object: the rules say so
    extras = {k: v for k, v in item.items() if k not in _READ and v not in _EMPTY}
    if not extras and type(shared) is not dict:
        return None if own is None else orjson.dumps(own)
    merged = {**(shared if type(shared) is dict else {}), **(own or {})}
    for key, value in extras.items():
        merged.setdefault(key, value)
    return _json(merged) if merged else None


def _user_row(user_id: str, traits: Any) -> dict[str, str | bytes | None]:
    """The users row of an identify, in USER_FIELDS order."""
    row: dict[str, str | bytes | None] = dict.fromkeys(USER_FIELDS)
    row["user_id"] = user_id
    if not isinstance(traits, dict):
        row["traits"] = _json(traits)  # None, or not an object (the rules say so)
        return row
    rest: dict[str, Any] = {}
    for key, value in traits.items():
        column = USER_TRAIT_COLUMNS.get(key)
        if column is None:
            rest[key] = value
        elif value is not None:
            row[column] = _text(value)
    row["traits"] = _json(rest) if rest else None
    return row


def _page_properties(item: Mapping[str, Any]) -> Any:
    """A page/screen's `category` joins its properties (where the `category` column reads it)."""
    properties = item.get("properties")
    category = item.get("category")
    if (
        category is None
        or not isinstance(properties, dict | None)
        or (properties is not None and "category" in properties)
    ):
        return properties
    return {**(properties or {}), "category": category}


def to_rows(
    items: list[Any],
    *,
    call: str,
    received_at: datetime,
    sent_at: Any = None,
    context: Any = None,
    measure: bool = True,
) -> Rows:
    """Rows of `items` sent to /v1/<call>; `measure=False` skips the per-item size check (for a
    body smaller than the limit, where no item can be over it).

    This runs for every message the API receives (tens of thousands a second), so it builds
    the table column by column, and the common case (strings where strings are expected, a
    context object and no other top-level key) avoids function calls; anything else goes
    through `_text`, `_json` and `_context`.
    """
    message_ids: list[str | None] = []
    refused: list[Refused] = []
    kept: list[str | None] = []  # message ids of the items that became rows
    types: list[Any] = []
    names: list[Any] = []
    user_ids: list[Any] = []
    anonymous_ids: list[Any] = []
    previous_ids: list[Any] = []
    group_ids: list[Any] = []
    times: list[Any] = []
    properties_column: list[Any] = []
    contexts: list[Any] = []
    numbers: list[int] = []
    users: list[tuple[Any, ...]] = []
    dumps = orjson.dumps
    read = _READ
    shared_is_object = type(context) is dict
    single = call != "batch"
    index = -1
    for item in items:
        index += 1
        if type(item) is not dict:
            message_ids.append(None)
            refused.append(Refused(index, None, "item is not a JSON object"))
            continue
        message_id = item.get("messageId")
        if message_id is not None and type(message_id) is not str:
            message_id = _text(message_id)
        message_ids.append(message_id)
        if measure and (size := len(dumps(item))) > MAX_EVENT_BYTES:
            refused.append(
                Refused(
                    index,
                    message_id,
                    f"item is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit",
                )
            )
            continue
        raw_type = call if single else item.get("type")
        kind = raw_type.lower() if type(raw_type) is str else None
        user_id = item.get("userId")
        if user_id is not None and type(user_id) is not str:
            user_id = _text(user_id)
        if kind == "track":
            properties, event = item.get("properties"), item.get("event")
        elif kind == "page" or kind == "screen":
            properties, event = _page_properties(item), item.get("name")
        elif kind == "identify" or kind == "group":
            traits = item.get("traits")
            # Traits that are not an object are judged on the users row when there is one.
            judged_on_user = kind == "identify" and user_id is not None
            properties = traits if type(traits) is dict or not judged_on_user else None
            event = item.get("event")
            if judged_on_user and user_id is not None:
                users.append((*_user_row(user_id, traits).values(), index + 1))
        else:
            properties, event = item.get("properties"), item.get("event")
        kept.append(message_id)
        types.append(raw_type if raw_type is None or type(raw_type) is str else _text(raw_type))
        names.append(event if event is None or type(event) is str else _text(event))
        user_ids.append(user_id)
        anonymous = item.get("anonymousId")
        anonymous_ids.append(
            anonymous if anonymous is None or type(anonymous) is str else _text(anonymous)
        )
        previous = item.get("previousId")
        previous_ids.append(
            previous if previous is None or type(previous) is str else _text(previous)
        )
        group = item.get("groupId")
        group_ids.append(group if group is None or type(group) is str else _text(group))
        stated = item.get("timestamp")
        times.append(stated if type(stated) is str else event_time(item, sent_at, received_at))
        properties_column.append(None if properties is None else dumps(properties))
        own = item.get("context")
        # The common case of `_context`: an object (or none), no batch context, and no
        # top-level key outside the spec but empty ones (analytics-python's `integrations`).
        if (
            (own is None or type(own) is dict)
            and not shared_is_object
            and all(key in read or item[key] in _EMPTY for key in item)
        ):
            contexts.append(None if own is None else dumps(own))
        else:
            contexts.append(_context(item, context))
        numbers.append(index + 1)
    columns = [
        kept,
        types,
        names,
        user_ids,
        anonymous_ids,
        previous_ids,
        group_ids,
        times,
        properties_column,
        contexts,
    ]
    return Rows(
        events=pa.Table.from_arrays(
            [
                *(pa.array(values, pa.string()) for values in columns),
                pa.array(numbers, pa.int64()),
            ],
            schema=_EVENT_SCHEMA,
        ),
        users=_table(users, _USER_SCHEMA),
        items=len(items),
        message_ids=tuple(message_ids),
        refused=tuple(refused),
    )


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table(
        [pa.array(values, type=f.type) for values, f in zip(columns, schema, strict=True)],
        schema=schema,
    )
