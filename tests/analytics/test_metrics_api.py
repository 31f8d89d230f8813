"""GET /api/metrics/...: the service's JSON for a signed-in viewer, 400 on a bad filter, 401
without a session, and the routes in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.analytics import reference as ref
from tests.analytics.data import World, generate, resolve, write
from tests.web.support import Console, cheap_password_hashing, running_console
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, open_warehouse

START, END = date(2026, 10, 7), date(2026, 11, 20)
RANGE = {"from": START.isoformat(), "to": END.isoformat()}


@pytest.fixture(scope="module")
def world_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, World]]:
    folder = tmp_path_factory.mktemp("api")
    rows, users = generate(4, ZoneInfo("Asia/Shanghai"))
    events_csv, users_csv = write(rows, users, folder)
    data_dir = folder / "data"
    with open_warehouse(Settings(data_dir=data_dir)) as wh:
        init_warehouse(wh)
        import_files(wh, "users", [users_csv], quarantine_dir=folder / "q")
        import_files(wh, "events", [events_csv], quarantine_dir=folder / "q")
    with cheap_password_hashing(), running_console(data_dir) as console:
        yield console, resolve(rows, users, ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def viewer(world_console: tuple[Console, World]) -> TestClient:
    return world_console[0].client("viewer")


@pytest.fixture(scope="module")
def world(world_console: tuple[Console, World]) -> World:
    return world_console[1]


def _get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(f"/api/metrics/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_active(viewer: TestClient, world: World) -> None:
    case = ref.CASES[1]
    got = _get(viewer, "active", period="week", where=list(case.where), by=case.by, **RANGE)
    assert got == ref.active(world, case, "week", START, END)
    plain = _get(viewer, "active", period="month", event="purchase", **RANGE)
    assert plain == ref.active(world, ref.CASES[0], "month", START, END, "purchase")
    assert set(plain) == {"period", "series"} and set(plain["series"][0]) == {"date", "active"}


def test_retention(viewer: TestClient, world: World) -> None:
    got = _get(
        viewer, "retention", period="week", periods=3, cohort="signup", unbounded=True, **RANGE
    )
    assert got == ref.retention(
        world, ref.CASES[0], "week", 3, START, END, basis="signup", unbounded=True
    )


def test_revenue_channels_lifecycle_stickiness_new(viewer: TestClient, world: World) -> None:
    case = ref.CASES[4]
    assert _get(
        viewer, "revenue", period="week", within=3, where=list(case.where), by=case.by, **RANGE
    ) == ref.revenue(world, case, "week", START, END, 3)
    assert _get(viewer, "channels", **RANGE) == ref.channels(world, ref.CASES[0], START, END)
    assert _get(viewer, "lifecycle", period="week", **RANGE) == ref.lifecycle(
        world, ref.CASES[0], "week", START, END
    )
    assert _get(viewer, "stickiness", **RANGE) == ref.stickiness(world, ref.CASES[0], START, END)
    assert _get(viewer, "new-users", period="week", by="channel", **RANGE) == ref.new_users(
        world, ref.Case("by", by="channel"), "week", START, END
    )


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("active", {"where": "chanel=x"}, 400, "unknown filter field 'chanel'"),
        ("retention", {"cohort": "install"}, 400, "cohort 'install' is not one of"),
        ("revenue", {"by": "prop.x"}, 400, "unknown breakdown field"),
        ("new-users", {"where": "prop.a=1"}, 400, "event property filters do not apply"),
        ("active", {"from": "2026-11-02", "to": "2026-11-01"}, 400, "starts (2026-11-02)"),
        ("active", {"period": "year"}, 400, "query.period: Input should be 'day', 'week' or"),
        ("retention", {"periods": -1}, 400, "query.periods: Input should be greater than or"),
        ("active", {"to": "9999-12-31"}, 400, "9999-12-31 is out of range (1970-01-01 to"),
    ],
)
def test_bad_requests(
    viewer: TestClient, path: str, params: dict[str, Any], status: int, message: str
) -> None:
    response = viewer.get(f"/api/metrics/{path}", params=params)
    assert response.status_code == status, response.text
    assert message in response.text


def test_needs_a_session(world_console: tuple[Console, World]) -> None:
    response = world_console[0].anonymous.get("/api/metrics/active")
    assert response.status_code == 401


def test_openapi_documents_the_routes(viewer: TestClient) -> None:
    paths = viewer.get("/openapi.json").json()["paths"]
    for name in (
        "active",
        "stickiness",
        "new-users",
        "retention",
        "revenue",
        "channels",
        "lifecycle",
    ):
        assert f"/api/metrics/{name}" in paths
    params = {p["name"] for p in paths["/api/metrics/active"]["get"]["parameters"]}
    assert {"from", "to", "period", "where", "by", "event"} <= params


def test_default_range(viewer: TestClient) -> None:
    got = _get(viewer, "active")
    assert len(got["series"]) == 30
