"""Segment messages -> contract rows: renaming only; judging is left to the import's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from userops.domain.contract import MAX_EVENT_BYTES
from userops.ingest.payloads import PayloadError, envelope, event_time, parse_body, to_rows

RECEIVED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "sent_at", "expected"),
    [
        ({"timestamp": "2026-10-01T00:00:00Z"}, None, "2026-10-01T00:00:00Z"),
        (
            {"timestamp": "2026-10-01T00:00:00Z", "originalTimestamp": "2020-01-01T00:00:00Z"},
            "2026-11-01T02:00:00Z",
            "2026-10-01T00:00:00Z",
        ),
        # device clock 10 minutes fast: sent at 02:10 device time, received at 02:00
        (
            {"originalTimestamp": "2026-11-01T02:05:00+00:00"},
            "2026-11-01T02:10:00+00:00",
            (RECEIVED - timedelta(minutes=5)).isoformat(),
        ),
        (
            {"originalTimestamp": "2026-11-01T02:05:00Z", "sentAt": "2026-11-01T02:05:30Z"},
            "2099-01-01T00:00:00Z",
            (RECEIVED - timedelta(seconds=30)).isoformat(),
        ),
        ({"originalTimestamp": "2026-11-01T02:05:00Z"}, None, "2026-11-01T02:05:00Z"),
        ({"originalTimestamp": "garbage"}, "2026-11-01T02:10:00Z", "garbage"),
        (
            {"originalTimestamp": "2026-11-01T02:05:00"},
            "2026-11-01T02:10:00Z",
            "2026-11-01T02:05:00",
        ),
        ({}, "2026-11-01T02:10:00Z", RECEIVED.isoformat()),
        # a skew past the calendar's ends: the device's time goes on, to be judged by the rules
        (
            {"originalTimestamp": "9999-01-01T00:00:00Z", "sentAt": "0001-01-02T00:00:00Z"},
            None,
            "9999-01-01T00:00:00Z",
        ),
        ({"timestamp": 1700000000}, None, "1700000000"),
    ],
)
def test_event_time(item: dict[str, Any], sent_at: str | None, expected: str) -> None:
    assert event_time(item, sent_at, RECEIVED) == expected


def _events(items: list[Any], call: str = "batch", **kw: Any) -> list[dict[str, Any]]:
    return to_rows(items, call=call, received_at=RECEIVED, **kw).events.to_pylist()


def test_values_are_text_and_objects_json() -> None:
    [row] = _events(
        [
            {
                "type": "track",
                "event": "e",
                "userId": 42,
                "anonymousId": True,
                "messageId": 7.5,
                "timestamp": "t",
                "properties": {"a": [1, 2]},
                "context": {"ip": "1.1.1.1"},
            }
        ]
    )
    assert row == {
        "message_id": "7.5",
        "type": "track",
        "event": "e",
        "user_id": "42",
        "anonymous_id": "true",
        "previous_id": None,
        "group_id": None,
        "timestamp": "t",
        "properties": '{"a":[1,2]}',
        "context": '{"ip":"1.1.1.1"}',
        "__row": 1,
    }


def test_what_is_not_an_object_goes_through_for_the_rules_to_judge() -> None:
    [row] = _events([{"type": "track", "properties": "x", "context": [1], "userId": {"a": 1}}])
    assert (row["properties"], row["context"], row["user_id"]) == ('"x"', "[1]", '{"a":1}')


def test_refused_items_keep_the_numbering_of_the_others() -> None:
    big = {"type": "track", "messageId": "big", "properties": {"x": "y" * MAX_EVENT_BYTES}}
    rows = to_rows(
        [None, big, {"type": "track", "messageId": "ok"}], call="batch", received_at=RECEIVED
    )
    assert [(r.index, r.message_id, r.reason.split(",")[0]) for r in rows.refused] == [
        (0, None, "item is not a JSON object"),
        (1, "big", f"item is {len(orjson.dumps(big))} bytes"),
    ]
    assert rows.events.column("__row").to_pylist() == [3]
    assert rows.message_ids == (None, "big", "ok")
    unmeasured = to_rows([big], call="batch", received_at=RECEIVED, measure=False)
    assert unmeasured.events.num_rows == 1 and not unmeasured.refused


def test_identify_makes_a_users_row_only_with_a_user_id() -> None:
    rows = to_rows(
        [
            {"type": "identify", "anonymousId": "a1", "traits": {"city": "x"}},
            {
                "type": "Identify",
                "userId": "u1",
                "traits": {
                    "createdAt": "2026-01-01",
                    "email": "e@x",
                    "phone": 138,
                    "vip": True,
                    "city": None,
                },
            },
            {"type": "identify", "userId": "u2"},
            {"type": "identify", "userId": "u3", "traits": ["not", "an", "object"]},
        ],
        call="batch",
        received_at=RECEIVED,
    )
    users = rows.users.to_pylist()
    assert [u["__row"] for u in users] == [2, 3, 4]
    assert {k: v for k, v in users[0].items() if v is not None} == {
        "user_id": "u1",
        "created_at": "2026-01-01",
        "email": "e@x",
        "phone": "138",
        "traits": '{"vip":true}',
        "__row": 2,
    }
    assert users[1]["traits"] is None and users[2]["traits"] == '["not","an","object"]'
    props = rows.events.column("properties").to_pylist()
    # The event keeps the traits, except those the users row will refuse.
    assert props[0] == '{"city":"x"}' and props[3] is None


def test_single_calls_take_their_type_from_the_url() -> None:
    [row] = _events([{"type": "identify", "name": "Home", "anonymousId": "a"}], call="page")
    assert (row["type"], row["event"]) == ("page", "Home")


@pytest.mark.parametrize(
    ("body", "call", "code"),
    [
        (b"nope", "batch", "invalid_json"),
        (b"[]", "track", "invalid_body"),
        (b'{"batch": 1}', "batch", "invalid_batch"),
    ],
)
def test_unusable_requests(body: bytes, call: str, code: str) -> None:
    with pytest.raises(PayloadError) as error:
        envelope(parse_body(body), call)
    assert error.value.code == code


def test_envelope_of_a_batch_and_of_a_single_call() -> None:
    batch = envelope({"batch": [1], "writeKey": "k", "sentAt": "s", "context": {"a": 1}}, "batch")
    assert (batch.items, batch.write_key, batch.sent_at, batch.context) == (
        [1],
        "k",
        "s",
        {"a": 1},
    )
    single = envelope({"event": "e", "writeKey": ""}, "track")
    assert (single.items, single.write_key) == ([{"event": "e", "writeKey": ""}], None)
