"""The profiles JSON API: roles (viewers read, operators change, admins see phone and email),
the refresh in the background, tags and their parameters, migrations, the user 360 with
search and timeline paging, and one JSON refusal per bad input."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.profiles.conftest import TagWorld
from tests.profiles.tag_data import TODAY
from tests.web.support import Console, cheap_password_hashing, running_console
from userops.profiles import refresh

DAY1 = TODAY - timedelta(days=40)


@pytest.fixture(scope="module")
def console(shanghai: TagWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(shanghai.settings.data_dir, data)
    with cheap_password_hashing(), running_console(data) as running:
        operator = running.clients["operator"]
        for day in (DAY1, TODAY):
            _refresh(operator, {"date": day.isoformat()})
        yield running


def headers(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def _refresh(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    started = client.post("/api/tags/refresh", json=body, headers=headers(client))
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + 120
    while True:
        run = client.get(f"/api/tags/refresh/runs/{run_id}").json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_reading_needs_a_session_and_any_role(console: Console) -> None:
    assert console.anonymous.get("/api/tags").status_code == 401
    viewer = console.clients["viewer"]
    tags = viewer.get("/api/tags").json()
    assert {"rfm_group", "lifecycle_stage", "intent_level"} <= {t["code"] for t in tags}
    value_tags = viewer.get("/api/tags", params={"category": "value"}).json()
    assert {t["category"] for t in value_tags} == {"rfm", "grade"}
    categories = viewer.get("/api/tags/categories").json()
    assert categories[0]["code"] == "basic"
    shown = viewer.get("/api/tags/lifecycle_stage").json()
    assert shown["params"]["churn_days"] == 90
    assert sum(row["users"] for row in shown["distribution"]) == shown["tagged_users"]
    assert {row["name"] for row in shown["distribution"]} <= {
        "引入期",
        "成长期",
        "成熟期",
        "休眠期",
        "流失期",
    }
    assert viewer.get("/api/tags/nope").status_code == 404


def test_refresh_runs_in_the_background_and_refuses_a_second(console: Console) -> None:
    operator, viewer = console.clients["operator"], console.clients["viewer"]
    assert viewer.post("/api/tags/refresh", json={}, headers=headers(viewer)).status_code == 403
    no_csrf = operator.post("/api/tags/refresh", json={})
    assert no_csrf.status_code == 403
    run = _refresh(operator, {"tags": ["intent_level"], "date": TODAY.isoformat()})
    assert run["status"] == "succeeded" and run["skipped"] == 1  # refreshed for that day
    assert run["trigger"] == "api:operator"
    forced = _refresh(operator, {"tags": ["intent_level"], "force": True, "date": str(TODAY)})
    assert forced["refreshed"] == 1
    with refresh._RUN_LOCK:  # a refresh is running in this process
        busy = operator.post("/api/tags/refresh", json={}, headers=headers(operator))
    assert busy.status_code == 409 and "already running" in busy.json()["detail"]
    bad = operator.post("/api/tags/refresh", json={"tags": ["nope"]}, headers=headers(operator))
    assert bad.status_code == 404 and "nope" in bad.json()["detail"]
    runs = viewer.get("/api/tags/refresh/runs").json()
    assert runs[0]["id"] == forced["id"] and all(r["status"] != "running" for r in runs)


def test_parameters_and_tags_change_with_the_change_permission(console: Console) -> None:
    operator, viewer = console.clients["operator"], console.clients["viewer"]
    body = {"params": {"lookback_days": 180}}
    assert (
        viewer.put("/api/tags/rfm_group/params", json=body, headers=headers(viewer)).status_code
        == 403
    )
    done = operator.put("/api/tags/rfm_group/params", json=body, headers=headers(operator))
    assert done.status_code == 200 and done.json()["definition"]["params"]["lookback_days"] == 180
    bad = operator.put(
        "/api/tags/rfm_group/params",
        json={"params": {"r_cut": 9}},
        headers=headers(operator),
    )
    assert bad.status_code == 400 and "'r_cut'" in bad.json()["detail"]
    assert viewer.get("/api/tags/rfm_group").json()["params"]["r_cut"] == 3
    made = operator.post(
        "/api/tags",
        json={
            "code": "orders_grade",
            "name": "订单分级",
            "category": "grade",
            "value_type": "enum",
            "definition": {"model": "grade", "params": {"measure": "orders"}},
        },
        headers=headers(operator),
    )
    assert made.status_code == 201, made.text
    again = operator.post(
        "/api/tags",
        json={"code": "orders_grade", "name": "x", "category": "grade", "value_type": "enum",
              "definition": {"model": "grade"}},
        headers=headers(operator),
    )  # fmt: skip
    assert again.status_code == 409
    patched = operator.patch(
        "/api/tags/orders_grade",
        json={"owner": "运营部", "schedule": "manual", "description_en": "Grade by orders"},
        headers=headers(operator),
    )
    assert patched.json()["owner"] == "运营部" and patched.json()["schedule"] == "manual"
    assert patched.json()["description_en"] == "Grade by orders"
    run = _refresh(operator, {"tags": ["orders_grade"], "date": TODAY.isoformat()})
    assert run["tags"]["orders_grade"]["status"] == "refreshed"
    gone = operator.delete("/api/tags/orders_grade", headers=headers(operator))
    assert gone.status_code == 204
    assert viewer.get("/api/tags/orders_grade").status_code == 404
    huge = viewer.get("/api/tags/refresh/runs/99999999999999999999")  # past SQLite's ints
    assert huge.status_code == 404 and huge.json()["detail"].startswith("no refresh run")
    builtin = operator.delete("/api/tags/rfm_group", headers=headers(operator))
    assert builtin.status_code == 409
    cat = operator.post(
        "/api/tags/categories",
        json={"code": "pets", "name": "宠物"},
        headers=headers(operator),
    )
    assert cat.status_code == 201
    assert (
        operator.delete("/api/tags/categories/pets", headers=headers(operator)).status_code == 204
    )


def test_migration(console: Console) -> None:
    viewer = console.clients["viewer"]
    got = viewer.get(
        "/api/tags/lifecycle_stage/migration",
        params={"from": DAY1.isoformat(), "to": TODAY.isoformat()},
    )
    assert got.status_code == 200, got.text
    data = got.json()
    assert (data["from"], data["to"]) == (DAY1.isoformat(), TODAY.isoformat())
    assert data["users"] == sum(row["total"] for row in data["matrix"])
    assert sum(link["value"] for link in data["sankey"]["links"]) == data["users"]
    days = viewer.get("/api/tags/lifecycle_stage/snapshots").json()
    assert days == [DAY1.isoformat(), TODAY.isoformat()]
    early = viewer.get(
        "/api/tags/lifecycle_stage/migration", params={"from": "2020-01-01", "to": "2020-02-01"}
    )
    assert early.status_code == 400 and "no snapshot" in early.json()["detail"]


@pytest.mark.parametrize(
    ("role", "phone", "email"),
    [
        ("viewer", "138****0000", "U***@Example.com"),
        ("analyst", "138****0000", "U***@Example.com"),
        ("operator", "138****0000", "U***@Example.com"),
        ("admin", "13800000000", "User.u000@Example.com"),
    ],
)
def test_profile_and_search_mask_contact_below_admin(
    console: Console, role: str, phone: str, email: str
) -> None:
    client = console.clients[role]
    profile = client.get("/api/profiles/u000").json()
    assert (profile["traits"]["phone"], profile["traits"]["email"]) == (phone, email)
    assert profile["rfm"] is None or profile["rfm"]["group"]
    found = client.get("/api/profiles/search", params={"q": "13800000000"}).json()
    assert [(r["user_id"], r["phone"], r["email"]) for r in found] == [("u000", phone, email)]
    prefix = client.get("/api/profiles/search", params={"q": "138000000"}).json()
    assert bool(prefix) is (role == "admin")  # only admins search contacts by prefix


def test_profile_timeline_paging_and_refusals(console: Console) -> None:
    viewer = console.clients["viewer"]
    profile = viewer.get("/api/profiles/u000", params={"events": 2}).json()
    first = profile["timeline"]["events"]
    assert len(first) == 2 and profile["timeline"]["has_more"]
    page = viewer.get("/api/profiles/u000/timeline", params={"limit": 2, "offset": 0}).json()
    assert page["events"] == first
    everything = viewer.get("/api/profiles/u000/timeline", params={"limit": 200}).json()
    stamps = [e["timestamp"] for e in everything["events"]]
    assert stamps == sorted(stamps, reverse=True) and not everything["has_more"]
    assert viewer.get("/api/profiles/nobody").status_code == 404
    assert viewer.get("/api/profiles/u000/timeline", params={"limit": 0}).status_code == 400
    assert viewer.get("/api/profiles/search", params={"q": ""}).status_code == 400


def test_a_rule_tags_rule_is_replaced_with_the_change_permission(console: Console) -> None:
    operator, analyst = console.clients["operator"], console.clients["analyst"]
    first = {"when": {"event": "purchase", "op": ">=", "value": 1}}
    made = operator.post(
        "/api/tags",
        json={
            "code": "buyer_api",
            "name": "买家",
            "category": "behaviour",
            "value_type": "boolean",
            "kind": "rule",
            "definition": first,
        },
        headers=headers(operator),
    )
    assert made.status_code == 201, made.text
    three = {"definition": {"when": {"event": "purchase", "op": ">=", "value": 3}}}
    path = "/api/tags/buyer_api/rule"
    assert analyst.put(path, json=three, headers=headers(analyst)).status_code == 403
    bad = operator.put(
        path,
        json={"definition": {"when": {"trait": "city", "op": "like"}}},
        headers=headers(operator),
    )
    assert bad.status_code == 400 and "definition.when.op" in bad.json()["detail"]
    assert operator.get("/api/tags/buyer_api").json()["definition"] == first
    computed = operator.put("/api/tags/rfm_group/rule", json=three, headers=headers(operator))
    assert computed.status_code == 400 and "only rule tags" in computed.json()["detail"]
    missing = operator.put("/api/tags/nope/rule", json=three, headers=headers(operator))
    assert missing.status_code == 404
    done = operator.put(path, json=three, headers=headers(operator))
    assert done.status_code == 200 and done.json()["definition"] == three["definition"]


def test_routes_are_in_the_openapi_document(console: Console) -> None:
    paths = console.anonymous.get("/openapi.json").json()["paths"]
    for path in (
        "/api/tags",
        "/api/tags/{code}/params",
        "/api/tags/{code}/rule",
        "/api/tags/refresh",
        "/api/tags/{code}/migration",
        "/api/profiles/{user_id}",
        "/api/profiles/search",
    ):
        assert path in paths, path


@pytest.mark.parametrize(
    ("method", "path", "body", "problem"),
    [
        # position 10**30 was a 500 ("Python int too large to convert to SQLite INTEGER")
        ("PATCH", "/api/tags/categories/basic", {"position": 10**30},
         "body.position: Input should be less than or equal to 1000000"),
        ("POST", "/api/tags/categories", {"code": "pets", "name": "宠物", "position": -1},
         "body.position: Input should be greater than or equal to 0"),
        ("PATCH", "/api/tags/categories/basic", {"postion": 3},
         "body: unknown field 'postion'; the fields are name, name_en, position"),
        ("PATCH", "/api/tags/rfm_group", {"onwer": "运营部"}, "body: unknown field 'onwer'"),
        ("POST", "/api/tags/refresh", {"date": "9999-12-31"},
         "body.date: 9999-12-31 is out of range (1970-01-01 to 2200-12-31)"),
        ("POST", "/api/tags/refresh", {"tag": ["rfm_group"]}, "body: unknown field 'tag'"),
    ],
)  # fmt: skip
def test_bad_bodies_are_refused_naming_the_field(
    console: Console, method: str, path: str, body: dict[str, Any], problem: str
) -> None:
    operator = console.clients["operator"]

    def state() -> tuple[Any, Any, Any]:
        return tuple(
            operator.get(f"/api/{what}").json()
            for what in ("tags/categories", "tags/rfm_group", "tags/refresh/runs")
        )

    before = state()
    reply = operator.request(method, path, json=body, headers=headers(operator))
    assert reply.status_code == 400 and problem in reply.json()["detail"], reply.text
    assert state() == before  # nothing changed, no refresh started
