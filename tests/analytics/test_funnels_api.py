"""POST /api/metrics/funnel: the same JSON as the command, roles, CSRF, and one clear 400."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conformance.datasets import END, START, hard_events, write_files
from tests.web.support import Console, cheap_password_hashing, running_console
from userops.analytics.filters import PropertyFilter
from userops.analytics.funnels import FunnelSpec, FunnelStep, funnel, step_filter
from userops.ingest.pipeline import import_files

BODY: dict[str, Any] = {
    "steps": [
        {"event": "view", "filters": [{"key": "category", "op": "=", "value": "phone"}]},
        {"event": "cart"},
        {"event": "buy"},
    ],
    "from": START.isoformat(),
    "to": END.isoformat(),
    "window": "2d",
    "by": "channel",
}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("funnel-api")
    events_csv, users_csv = write_files(hard_events(31), folder / "files")
    with cheap_password_hashing(), running_console(folder / "data") as running:
        with running.app.state.runtime.warehouse() as wh:
            for kind, path in (("users", users_csv), ("events", events_csv)):
                import_files(wh, kind, [path], quarantine_dir=folder / "q")  # type: ignore[arg-type]
        yield running


def _csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def test_a_viewer_gets_the_funnel(console: Console) -> None:
    viewer = console.clients["viewer"]
    reply = viewer.post("/api/metrics/funnel", json=BODY, headers=_csrf(viewer))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    spec = FunnelSpec.of(
        [FunnelStep("view", (PropertyFilter("category", "=", ("phone",)),)), "cart", "buy"],
        start=START,
        end=END,
        window="2d",
        by="channel",
    )
    with console.app.state.runtime.warehouse() as wh:
        want = funnel(wh, spec).as_json()
    assert body == {**want, "timezone": "Asia/Shanghai", "dropped_users": None}
    assert body["steps"][0]["count"] > 0 and body["breakdown"]


def test_dropped_users_and_any_order(console: Console) -> None:
    client = console.clients["analyst"]
    body = {**BODY, "order": "any", "dropped_at": 3, "by": None, "where": ["city=北京"]}
    reply = client.post("/api/metrics/funnel", json=body, headers=_csrf(client))
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert out["order"] == "any" and out["filters"] == ["city=北京"]
    assert len(out["dropped_users"]) == out["steps"][1]["count"] - out["steps"][2]["count"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"window": "0m"}, 400, "window '0m' must be longer than 0"),
        ({"order": "sideways"}, 400, "body.order: Input should be 'ordered', 'strict' or 'any'"),
        ({"steps": [{"event": "view"}]}, 400, "body.steps: List should have at least 2 items"),
        ({"window": "99999999999d"}, 400, "window '99999999999d' is longer than 366 days"),
        ({"from": "0001-01-01"}, 400, "body.from: 0001-01-01 is out of range (1970-01-01 to"),
        ({"step": 3}, 400, "body: unknown field 'step'; the fields are steps, from, to, window"),
        (
            {"steps": [{"event": "view"}, {"event": " "}]},
            400,
            "funnel step 2: the event name is empty",
        ),
        (
            {"steps": [{"event": "a", "filters": [{"key": "a.b", "op": "="}]}, {"event": "b"}]},
            400,
            "property key 'a.b' is not letters",
        ),
        (
            {
                "steps": [
                    {"event": "a", "filters": [{"key": "p", "op": "in", "value": 3}]},
                    {"event": "b"},
                ]
            },
            400,
            "needs a non-empty list",
        ),
        ({"by": "shoe_size"}, 400, "unknown breakdown field"),
        ({"where": ["nonsense"]}, 400, "is not FIELD=VALUE"),
        ({"from": END.isoformat(), "to": START.isoformat()}, 400, "the range starts"),
        ({"dropped_at": 9}, 400, "step 9 is not a step of this funnel"),
    ],
)
def test_bad_requests(
    console: Console, change: dict[str, Any], status: int, message: str | None
) -> None:
    client = console.clients["viewer"]
    reply = client.post("/api/metrics/funnel", json={**BODY, **change}, headers=_csrf(client))
    assert reply.status_code == status, reply.text
    if message:
        assert message in reply.json()["detail"]


def test_needs_a_session_and_the_csrf_header(console: Console) -> None:
    assert console.anonymous.post("/api/metrics/funnel", json=BODY).status_code == 401
    viewer = console.clients["viewer"]
    assert viewer.post("/api/metrics/funnel", json=BODY).status_code == 403


def test_documented_in_openapi(console: Console) -> None:
    spec = console.anonymous.get("/openapi.json").json()
    operation = spec["paths"]["/api/metrics/funnel"]["post"]
    assert operation["tags"] == ["metrics"]
    assert "FunnelIn" in str(operation["requestBody"])


def test_property_values_of_every_json_type() -> None:
    assert step_filter("price", ">=", 50).values == ("50",)
    assert step_filter("vip", "=", True).values == ("true",)
    assert step_filter("c", "in", ["a", 2.5]).values == ("a", "2.5")
    assert step_filter("c", "is set").values == ()
