"""Segment's own Python SDK, unchanged but for its host, against a real userops server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import segment.analytics as analytics
from segment.analytics.client import Client
from segment.analytics.request import APIError

from userops.settings import Settings

from .conftest import ServerProcess, new_key

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return server_factory(tmp_path / "data")


@pytest.fixture
def key(tmp_path: Path) -> str:
    return new_key(Settings(data_dir=tmp_path / "data"), "segment sdk")


@pytest.fixture
def errors() -> Iterator[list[Any]]:
    """The module-level client of the SDK, configured as its users do; errors are collected."""
    seen: list[Any] = []
    analytics.default_client = None
    analytics.on_error = lambda error, batch: seen.append((error, batch))
    yield seen
    analytics.default_client = None  # sync mode: no consumer thread to stop
    analytics.on_error = None


def test_identify_track_and_a_batch_reach_the_warehouse(
    server: ServerProcess, key: str, errors: list[Any]
) -> None:
    analytics.write_key = key
    analytics.host = server.url
    analytics.sync_mode = True
    try:
        analytics.track(
            anonymous_id="dev-1", event="view_item", properties={"item_id": "sku-1", "price": 99}
        )
        analytics.identify(
            "u1",
            {
                "email": "li@example.com",
                "city": "杭州",
                "plan": "pro",
                "createdAt": datetime(2026, 1, 2, tzinfo=UTC),
            },
            anonymous_id="dev-1",
        )
        analytics.track(
            "u1", "purchase", {"revenue": 199.5, "currency": "CNY"}, message_id="order-1"
        )
    finally:
        analytics.sync_mode = False

    # A batch: the SDK's queue and consumer thread, flushed in one request of 150 messages.
    client = Client(
        key,
        host=server.url,
        upload_size=200,
        on_error=lambda error, batch: errors.append((error, batch)),
    )
    for i in range(150):
        client.page(
            f"u{i % 7}",
            category="Docs",
            name=f"page-{i}",
            properties={"path": f"/docs/{i}"},
            message_id=f"page-{i}",
        )
    client.group("u1", "acme", {"name": "ACME", "employees": 30})
    client.alias("dev-2", "u1")
    client.flush()
    client.shutdown()
    assert errors == []

    server.stop()
    counts = dict(server.rows("SELECT type, count(*) FROM events GROUP BY type"))
    assert counts == {"track": 2, "identify": 1, "page": 150, "group": 1, "alias": 1}
    [user] = server.rows("SELECT user_id, email, city, created_at, traits FROM users")
    assert user[:3] == ("u1", "li@example.com", "杭州")
    assert user[3].astimezone(UTC) == datetime(2026, 1, 2, tzinfo=UTC)
    assert json.loads(user[4]) == {"plan": "pro"}
    assert sorted(server.rows("SELECT anonymous_id, user_id FROM identities")) == [
        ("dev-1", "u1"),
        ("dev-2", "u1"),
    ]
    [(before_login,)] = server.rows(
        "SELECT count(*) FROM events e JOIN identities i USING (anonymous_id) "
        "WHERE e.user_id IS NULL AND i.user_id = 'u1'"
    )
    assert before_login == 1  # the anonymous view_item now counts as u1's
    [purchase] = server.rows(
        "SELECT revenue, currency, context FROM events WHERE message_id = 'order-1'"
    )
    assert (float(purchase[0]), purchase[1]) == (199.5, "CNY")
    assert json.loads(purchase[2])["library"]["name"] == "analytics-python"
    assert server.rows("SELECT count(*) FROM events WHERE type = 'page' AND category = 'Docs'") == [
        (150,)
    ]


def test_the_sdk_reports_rejected_messages_and_does_not_retry_them(
    server: ServerProcess, key: str, errors: list[Any]
) -> None:
    client = Client(
        key,
        host=server.url,
        upload_size=10,
        max_retries=3,
        on_error=lambda error, batch: errors.append((error, batch)),
    )
    client.track("u1", "ok", message_id="good")
    client.track("u1", "bad", {"revenue": "a lot"}, message_id="bad")
    client.flush()
    client.shutdown()
    [(error, batch)] = errors
    assert error.status == 400 and error.code == "invalid_messages"
    assert 'index 1: properties.revenue "a lot"' in error.message
    assert [m["messageId"] for m in batch] == ["good", "bad"]

    # In sync mode the SDK raises what the server said.
    wrong = Client("uo_wk_wrong", host=server.url, sync_mode=True, max_retries=1)
    with pytest.raises(APIError) as refused:
        wrong.track("u1", "ok", message_id="nope")
    assert refused.value.status == 401 and refused.value.code == "invalid_write_key"
    server.stop()
    assert server.rows("SELECT message_id FROM events") == [("good",)]
