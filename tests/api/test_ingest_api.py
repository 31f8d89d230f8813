"""The Segment-compatible ingestion API in process: auth, every call type, the 400s, dedup."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from userops.domain.contract import MAX_BATCH_BYTES, MAX_EVENT_BYTES
from userops.services import keys

from .conftest import Api, basic

T0 = "2026-11-01T10:00:00+08:00"


def track(message_id: str, **extra: object) -> dict[str, object]:
    return {
        "type": "track",
        "messageId": message_id,
        "event": "view_item",
        "userId": "u1",
        "timestamp": T0,
        **extra,
    }


def events(api: Api) -> dict[str, tuple]:
    rows = api.sql(
        "SELECT message_id, type, event, user_id, anonymous_id, previous_id, "
        "group_id, properties, context FROM events"
    )
    return {r[0]: r[1:] for r in rows}


# --- write keys ---------------------------------------------------------------------------


def test_key_as_basic_username_or_in_body(api: Api) -> None:
    assert api.post("/v1/track", track("m1")).json() == {
        "success": True,
        "accepted": 1,
        "duplicates": 0,
    }
    in_body = api.client.post("/v1/track", json={**track("m2"), "writeKey": api.key})
    assert in_body.status_code == 200
    batch = api.client.post("/v1/batch", json={"batch": [track("m3")], "writeKey": api.key})
    assert batch.status_code == 200
    assert sorted(events(api)) == ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("headers", "body_key", "code"),
    [
        ({}, None, "missing_write_key"),
        (basic("uo_wk_not-a-key"), None, "invalid_write_key"),
        ({}, "uo_wk_not-a-key", "invalid_write_key"),
        ({"Authorization": "Bearer something"}, None, "missing_write_key"),
        ({"Authorization": "Basic !!!not base64"}, None, "missing_write_key"),
    ],
)
def test_missing_or_unknown_key_is_401_and_stores_nothing(
    api: Api, headers: dict[str, str], body_key: str | None, code: str
) -> None:
    body = {**track("m1"), **({"writeKey": body_key} if body_key else {})}
    response = api.client.post("/v1/track", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code and response.json()["success"] is False
    assert api.sql("SELECT count(*) FROM events") == [(0,)]


def test_revoked_key_stops_working_once_the_cache_expires(api: Api) -> None:
    assert api.post("/v1/track", track("m1")).status_code == 200
    with keys.open_database(api.settings) as engine:
        keys.revoke_write_key(engine, actor="cli", prefix=api.key[:14])
    cache = api.client.app.state.ingest.keys  # type: ignore[attr-defined]
    assert api.post("/v1/track", track("m2")).status_code == 200  # still cached
    cache.ttl = 0.0
    cache._until.clear()
    refused = api.post("/v1/track", track("m3"))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_write_key"
    assert sorted(events(api)) == ["m1", "m2"]


def test_a_used_key_shows_when_it_was_last_used(api: Api) -> None:
    assert api.post("/v1/track", track("m1")).status_code == 200
    with keys.open_database(api.settings) as engine:
        [info] = keys.list_write_keys(engine)
    assert info.last_used_at is not None
    assert datetime.now(UTC) - info.last_used_at < timedelta(minutes=1)


# --- every call, mapped to the contract -----------------------------------------------------

CALLS = [
    (
        "track",
        {"userId": "u1", "event": "purchase", "properties": {"revenue": 9.9, "currency": "CNY"}},
        ("track", "purchase", "u1", None, None, None, {"revenue": 9.9, "currency": "CNY"}),
    ),
    (
        "identify",
        {"userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}},
        ("identify", None, "u1", "a1", None, None, {"plan": "pro"}),
    ),
    (
        "page",
        {"anonymousId": "a1", "name": "Home", "category": "Docs", "properties": {"path": "/"}},
        ("page", "Home", None, "a1", None, None, {"path": "/", "category": "Docs"}),
    ),
    ("screen", {"userId": "u1", "name": "Cart"}, ("screen", "Cart", "u1", None, None, None, None)),
    ("alias", {"previousId": "a1", "userId": "u1"}, ("alias", None, "u1", None, "a1", None, None)),
    (
        "group",
        {"userId": "u1", "groupId": "g1", "traits": {"name": "ACME"}},
        ("group", None, "u1", None, None, "g1", {"name": "ACME"}),
    ),
]


@pytest.mark.parametrize(("call", "body", "expected"), CALLS, ids=[c[0] for c in CALLS])
def test_each_call_is_stored_under_contract_names(
    api: Api, call: str, body: dict[str, object], expected: tuple
) -> None:
    response = api.post(f"/v1/{call}", {**body, "messageId": "m1", "timestamp": T0})
    assert response.status_code == 200, response.text
    [row] = events(api).values()
    properties = json.loads(row[6]) if row[6] else None
    assert (*row[:6], properties) == expected


def test_the_url_names_the_type_of_a_single_call(api: Api) -> None:
    assert (
        api.post(
            "/v1/page",
            {
                "type": "track",
                "anonymousId": "a1",
                "name": "Home",
                "messageId": "m1",
                "timestamp": T0,
            },
        ).status_code
        == 200
    )
    assert events(api)["m1"][:2] == ("page", "Home")


def test_identify_traits_update_the_user_and_merge_the_bag(api: Api) -> None:
    first = {
        "userId": "u1",
        "messageId": "i1",
        "timestamp": T0,
        "traits": {
            "createdAt": "2026-01-02T03:04:05Z",
            "channel": "referral",
            "gender": "f",
            "birthday": "1990-02-03",
            "province": "浙江",
            "city": "杭州",
            "occupation": "teacher",
            "phone": 13800000000,
            "email": "a@example.com",
            "plan": "pro",
            "vip": True,
        },
    }
    assert api.post("/v1/identify", first).status_code == 200
    second = {
        "userId": "u1",
        "messageId": "i2",
        "timestamp": T0,
        "traits": {"created_at": None, "city": "宁波", "points": 12},
    }
    assert api.post("/v1/identify", second).status_code == 200
    [user] = api.sql(
        "SELECT user_id, created_at, channel, gender, CAST(birthday AS VARCHAR), province, "
        "city, occupation, phone, email, traits FROM users"
    )
    assert user[1].astimezone(UTC) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert user[2:10] == (
        "referral",
        "f",
        "1990-02-03",
        "浙江",
        "宁波",
        "teacher",
        "13800000000",
        "a@example.com",
    )
    assert json.loads(user[10]) == {"plan": "pro", "vip": True, "points": 12}


def test_anonymous_events_before_login_count_as_the_users(api: Api) -> None:
    batch = [
        {
            "type": "page",
            "anonymousId": "a1",
            "name": "Home",
            "messageId": "p1",
            "timestamp": "2026-11-01T09:00:00+08:00",
        },
        {
            "type": "track",
            "anonymousId": "a1",
            "event": "add_to_cart",
            "messageId": "t1",
            "timestamp": "2026-11-01T09:01:00+08:00",
        },
        {
            "type": "identify",
            "anonymousId": "a1",
            "userId": "u1",
            "messageId": "i1",
            "timestamp": "2026-11-01T09:02:00+08:00",
        },
        {
            "type": "track",
            "anonymousId": "a2",
            "event": "open",
            "messageId": "t2",
            "timestamp": "2026-11-01T09:03:00+08:00",
        },
        {
            "type": "alias",
            "previousId": "a2",
            "userId": "u1",
            "messageId": "al1",
            "timestamp": "2026-11-01T09:04:00+08:00",
        },
    ]
    assert api.post("/v1/batch", {"batch": batch}).status_code == 200
    assert sorted(api.sql("SELECT anonymous_id, user_id, source FROM identities")) == [
        ("a1", "u1", "identify"),
        ("a2", "u1", "alias"),
    ]
    [(count,)] = api.sql(
        "SELECT count(*) FROM events e LEFT JOIN identities i USING (anonymous_id) "
        "WHERE coalesce(e.user_id, i.user_id) = 'u1' AND e.type IN ('page', 'track')"
    )
    assert count == 3


# --- time -----------------------------------------------------------------------------------


def test_timestamps_follow_segment_semantics(api: Api) -> None:
    before = datetime.now(UTC)
    batch = [
        {
            "type": "track",
            "userId": "u1",
            "event": "stated",
            "messageId": "s",
            "timestamp": "2026-11-01T10:00:00Z",
            "originalTimestamp": "2020-01-01T00:00:00Z",
        },
        # The device clock is 1 hour fast: its times are moved back by the skew.
        {
            "type": "track",
            "userId": "u1",
            "event": "device",
            "messageId": "d",
            "originalTimestamp": "2030-01-01T00:59:00Z",
        },
        {"type": "track", "userId": "u1", "event": "none", "messageId": "n"},
    ]
    sent = {"batch": batch, "sentAt": "2030-01-01T01:00:00Z"}
    assert api.post("/v1/batch", sent).status_code == 200
    after = datetime.now(UTC)
    got = {m: ts.astimezone(UTC) for m, ts in api.sql("SELECT message_id, timestamp FROM events")}
    assert got["s"] == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert before - timedelta(minutes=1, seconds=1) <= got["d"] <= after - timedelta(minutes=1)
    assert before - timedelta(seconds=1) <= got["n"] <= after


def test_context_of_the_batch_and_unnamed_keys_are_kept_in_context(api: Api) -> None:
    batch = [
        track(
            "m1",
            context={"ip": "10.0.0.9", "locale": "zh-CN"},
            integrations={"All": False},
            channel="server",
            version=2,
        )
    ]
    body = {"batch": batch, "context": {"ip": "10.0.0.1", "library": {"name": "x"}}}
    assert api.post("/v1/batch", body).status_code == 200
    assert json.loads(events(api)["m1"][7]) == {
        "ip": "10.0.0.9",
        "locale": "zh-CN",
        "library": {"name": "x"},
        "integrations": {"All": False},
        "channel": "server",
        "version": 2,
    }


# --- the 400s -------------------------------------------------------------------------------


def test_bad_items_are_named_and_the_good_ones_kept(api: Api) -> None:
    batch = [
        track("good1", properties={"revenue": "12.50"}),
        "not an object",
        track("bad-time", timestamp="yesterday"),
        {"type": "track", "messageId": "no-id", "event": "open", "timestamp": T0},
        {"type": "track", "messageId": "no-event", "userId": "u1", "timestamp": T0},
        {"type": "bogus", "messageId": "bad-type", "userId": "u1", "timestamp": T0},
        track("bad-props", properties=[1, 2]),
        track("bad-revenue", properties={"revenue": "lots"}),
        {
            "type": "identify",
            "userId": "u9",
            "messageId": "bad-trait",
            "timestamp": T0,
            "traits": {"birthday": "31/02/1990"},
        },
        {"type": "alias", "userId": "u1", "messageId": "half-alias", "timestamp": T0},
        {"type": "track", "messageId": "nul-id", "userId": "a\u0000b", "event": "open",
         "timestamp": T0},
        {"type": "track", "messageId": "blank-id", "userId": "  ", "event": "open",
         "timestamp": T0},
        {"type": "track", "messageId": "skewed", "userId": "u1", "event": "open",
         "originalTimestamp": "9999-01-01T00:00:00Z", "sentAt": "0001-01-02T00:00:00Z"},
        track("good2"),
    ]  # fmt: skip
    response = api.post("/v1/batch", {"batch": batch})
    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["code"], body["accepted"], body["duplicates"]) == (
        False,
        "invalid_messages",
        2,
        0,
    )
    reasons = {r["index"]: (r["messageId"], r["reason"]) for r in body["rejected"]}
    assert reasons == {
        1: (None, "item is not a JSON object"),
        2: ("bad-time", 'timestamp "yesterday" is not an ISO-8601 time'),
        3: ("no-id", "missing id: user_id or anonymous_id is required"),
        4: ("no-event", "missing event: a track needs an event name"),
        5: ("bad-type", 'type "bogus" is not one of track, identify, page, screen, alias, group'),
        6: ("bad-props", "properties is not a JSON object"),
        7: ("bad-revenue", 'properties.revenue "lots" is not a number within ±10^16'),
        8: ("bad-trait", 'traits: birthday "31/02/1990" is not a date (YYYY-MM-DD)'),
        9: ("half-alias", "an alias needs previous_id and user_id"),
        10: ("nul-id", "user_id contains a control character (a tab, a line break, a NUL...)"),
        11: ("blank-id", "missing id: user_id or anonymous_id is required"),
        12: ("skewed", 'timestamp "9999-01-01T00:00:00Z" is out of range (1970-2200)'),
    }
    assert (
        "12 of 14 messages rejected" in body["message"]
        and "the other 2 were stored" in body["message"]
    )
    assert sorted(events(api)) == ["good1", "good2"]
    # The identify whose traits were refused stored neither its event nor its user.
    assert api.sql("SELECT count(*) FROM users") == [(0,)]
    assert api.sql("SELECT revenue FROM events WHERE message_id = 'good1'") == [(Decimal("12.50"),)]


def test_an_item_over_32_kb_is_named_and_the_rest_kept(api: Api) -> None:
    big = track("big", properties={"blob": "x" * MAX_EVENT_BYTES})
    response = api.post("/v1/batch", {"batch": [track("small"), big]})
    assert response.status_code == 400
    [bad] = response.json()["rejected"]
    assert bad["index"] == 1 and bad["messageId"] == "big"
    assert bad["reason"].startswith("item is ") and "over the 32768-byte limit" in bad["reason"]
    assert response.json()["accepted"] == 1
    single = api.post("/v1/track", big)
    assert single.status_code == 400 and single.json()["rejected"][0]["index"] == 0
    assert sorted(events(api)) == ["small"]


def test_a_request_over_500_kb_stores_nothing(api: Api) -> None:
    batch = [track(f"m{i}", properties={"blob": "x" * 20_000}) for i in range(30)]
    body = orjson.dumps({"batch": batch})
    assert len(body) > MAX_BATCH_BYTES
    response = api.client.post(
        "/v1/batch", content=body, headers={**basic(api.key), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "batch_too_large"
    assert "nothing was stored" in response.json()["message"]
    # The same body gzipped is measured unzipped.
    zipped = api.client.post(
        "/v1/batch",
        content=gzip.compress(body),
        headers={**basic(api.key), "Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 400 and zipped.json()["code"] == "batch_too_large"
    assert api.sql("SELECT count(*) FROM events") == [(0,)]


@pytest.mark.parametrize(
    ("path", "content", "code"),
    [
        ("/v1/batch", b"{not json", "invalid_json"),
        ("/v1/batch", b"[1, 2]", "invalid_body"),
        ("/v1/batch", b'{"batch": {"type": "track"}}', "invalid_batch"),
        ("/v1/batch", b'{"messages": []}', "invalid_batch"),
        ("/v1/track", b"", "invalid_json"),
        ("/v1/track", b'"track"', "invalid_body"),
    ],
)
def test_malformed_requests_are_400_with_a_code(
    api: Api, path: str, content: bytes, code: str
) -> None:
    response = api.client.post(path, content=content, headers=basic(api.key))
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["success"] is False


def test_gzip_bodies_are_read_and_bad_gzip_is_400(api: Api) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track("m1")]}))
    headers = {**basic(api.key), "Content-Encoding": "gzip"}
    assert api.client.post("/v1/batch", content=body, headers=headers).status_code == 200
    bad = api.client.post("/v1/batch", content=b"not gzip", headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_gzip"
    assert sorted(events(api)) == ["m1"]


def test_unknown_call_is_404(api: Api) -> None:
    response = api.post("/v1/purchase", track("m1"))
    assert response.status_code == 404 and response.json()["code"] == "unknown_call"


def test_empty_batch_is_fine(api: Api) -> None:
    assert api.post("/v1/batch", {"batch": []}).json() == {
        "success": True,
        "accepted": 0,
        "duplicates": 0,
    }


# --- dedup ----------------------------------------------------------------------------------


def test_a_retried_batch_stores_nothing_twice(api: Api) -> None:
    batch = {"batch": [track(f"m{i}") for i in range(50)]}
    first = api.post("/v1/batch", batch)
    again = api.post("/v1/batch", batch)
    assert first.json() == {"success": True, "accepted": 50, "duplicates": 0}
    assert again.json() == {"success": True, "accepted": 0, "duplicates": 50}
    partly = api.post("/v1/batch", {"batch": [track("m0"), track("new"), track("new")]})
    assert partly.json() == {"success": True, "accepted": 1, "duplicates": 2}
    assert api.sql("SELECT count(*), count(DISTINCT message_id) FROM events") == [(51, 51)]


def test_a_retried_identify_changes_the_user_once(api: Api) -> None:
    body = {"userId": "u1", "messageId": "i1", "timestamp": T0, "traits": {"city": "杭州"}}
    assert api.post("/v1/identify", body).json()["accepted"] == 1
    assert api.post("/v1/identify", body).json() == {
        "success": True,
        "accepted": 0,
        "duplicates": 1,
    }
    assert api.sql("SELECT user_id, city FROM users") == [("u1", "杭州")]


def test_openapi_lists_the_ingestion_calls(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for call in ("batch", "track", "identify", "page", "screen", "alias", "group"):
        assert "post" in paths[f"/v1/{call}"]


def test_a_late_retry_of_an_identify_does_not_undo_a_newer_one(api: Api) -> None:
    older = {"userId": "u1", "messageId": "i1", "timestamp": T0, "traits": {"city": "杭州"}}
    newer = {"userId": "u1", "messageId": "i2", "timestamp": T0, "traits": {"city": "宁波"}}
    assert api.post("/v1/identify", older).status_code == 200
    assert api.post("/v1/identify", newer).status_code == 200
    assert api.post("/v1/identify", older).json()["duplicates"] == 1
    assert api.sql("SELECT city FROM users") == [("宁波",)]
