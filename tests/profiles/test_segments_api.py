"""The JSON API of segments: roles, the preview's JSON, CRUD, refusals by path and status,
hostile bodies, the CSV export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.web.support import Console, cheap_password_hashing, running_console
from userops.ingest.pipeline import import_files

HOSTILE = "'; DROP TABLE users; --"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("segments-api")
    with cheap_password_hashing(), running_console(folder / "data") as running:
        now = datetime.now(UTC)
        users = pd.DataFrame(
            {
                "user_id": ["a", "b", "c", "d", "e"],
                "city": ["上海", 'O\'Brien "路"', HOSTILE, "北京", None],
                "created_at": [(now - timedelta(days=n)).isoformat() for n in (1, 5, 40, 3, 90)],
            }
        )
        events = pd.DataFrame(
            {
                "message_id": [f"m{i}" for i in range(5)],
                "type": ["track"] * 5,
                "event": ["purchase", "purchase", "app_open", "purchase", "app_open"],
                "user_id": ["a", "a", "b", "d", "anon-only"],
                "timestamp": [(now - timedelta(days=n)).isoformat() for n in (1, 2, 3, 60, 1)],
                "properties": [json.dumps({"revenue": r}) for r in (10, 20, 0, 99, 0)],
            }
        )
        users.to_csv(folder / "users.csv", index=False)
        events.to_csv(folder / "events.csv", index=False)
        with running.app.state.runtime.warehouse() as wh:
            import_files(wh, "users", [folder / "users.csv"], quarantine_dir=folder / "q")
            import_files(wh, "events", [folder / "events.csv"], quarantine_dir=folder / "q")
        yield running


def headers(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


BUYERS = {"event": "purchase", "within_days": 30}


@pytest.mark.parametrize("role", ["viewer", "analyst", "operator", "admin"])
def test_analysts_and_up_preview(console: Console, role: str) -> None:
    """As in the console's builder: previewing is analysing (docs/api.md)."""
    client = console.clients[role]
    reply = client.post(
        "/api/segments/preview", json={"rule": BUYERS, "sample": 1}, headers=headers(client)
    )
    if role == "viewer":
        assert reply.status_code == 403, reply.text
        return
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"count": 1, "sample": ["a"]}


def test_preview_refusals(console: Console) -> None:
    analyst = console.clients["analyst"]
    assert console.anonymous.post("/api/segments/preview", json={"rule": BUYERS}).status_code == 401
    assert analyst.post("/api/segments/preview", json={"rule": BUYERS}).status_code == 403  # CSRF
    bad = analyst.post(
        "/api/segments/preview",
        json={"rule": {"all": [BUYERS, {"trait": "city", "op": "==", "value": "x"}]}},
        headers=headers(analyst),
    )
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("rule.all[1].op: unknown operator '=='; expected one")
    unknown = analyst.post(
        "/api/segments/preview",
        json={"rule": {"tag": "nope", "op": "is_set"}},
        headers=headers(analyst),
    )
    assert unknown.status_code == 400 and unknown.json()["detail"] == "rule.tag: unknown tag 'nope'"


@pytest.mark.parametrize("role", ["analyst", "operator", "admin"])
def test_only_admins_compare_phone_or_email(console: Console, role: str) -> None:
    """Both are masked below admin (the user 360); a rule comparing them would reveal them one
    count at a time (a preview of phone IN [half the candidates], then halving again)."""
    client = console.clients[role]
    phone = {
        "all": [
            {"trait": "user_id", "op": "=", "value": "a"},
            {"any": [{"trait": "phone", "op": "in", "value": ["13800000000"]}]},
        ]
    }
    calls = [
        ("/api/segments/preview", {"rule": phone}),
        ("/api/segments", {"code": f"by_phone_{role}", "name": "x", "rule": phone}),
        ("/api/tags", {"code": f"by_email_{role}", "name": "x", "category": "basic",
                       "value_type": "boolean", "kind": "rule",
                       "definition": {"when": {"trait": "email", "op": "=", "value": "a@b.c"}}}),
    ]  # fmt: skip
    for path, body in calls[:2] if role == "analyst" else calls:  # analysts make no tags
        reply = client.post(path, json=body, headers=headers(client))
        if role == "admin":
            assert reply.status_code in (200, 201), reply.text
            continue
        assert reply.status_code == 403, (path, reply.text)
        assert "needs the admin role" in reply.json()["detail"]
        assert reply.json()["detail"].startswith(("rule.all[1].any[0]:", "definition.when:"))
    presence = {"trait": "phone", "op": "is_set"}  # reveals nothing: allowed to every analyst
    reply = client.post("/api/segments/preview", json={"rule": presence}, headers=headers(client))
    assert reply.status_code == 200, reply.text
    assert client.get(f"/api/segments/by_phone_{role}").status_code == (
        200 if role == "admin" else 404
    )
    if role == "admin":  # leave the module's console as the other tests expect it
        assert client.delete("/api/segments/by_phone_admin", headers=headers(client)).is_success
        assert client.delete("/api/tags/by_email_admin", headers=headers(client)).is_success


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            '{"rule": {"trait": "traits.x", "op": ">", "value": NaN}}',
            400,
            "rule.value: numbers must be finite",
        ),
        (
            '{"rule": {"trait": "traits.x", "op": ">", "value": 1e999}}',
            400,
            "rule.value: numbers must be finite",
        ),
        (
            '{"rule": {"trait": "' + HOSTILE + '", "op": "is_set"}}',
            400,
            "rule.trait: unknown trait",
        ),
        (
            '{"rule": ' + '{"not": ' * 50 + '{"segment": "a"}' + "}" * 51,
            400,
            "nest at most 8 levels",
        ),
        ('{"rule": ' + '{"not": ' * 5000 + '{"segment": "a"}' + "}" * 5001, None, None),
        (
            '{"rule": {"trait": "city", "op": "in", "value": [' + ",".join(['"x"'] * 5000) + "]}}",
            400,
            "5000 values; at most 1000",
        ),
        ('{"rule": [1]}', 400, "body.rule: Input should be a valid dictionary"),
        ('{"rule": {"segment": "a"}, "todya": "2026-01-01"}', 400, "unknown field 'todya'"),
        ('{"rule": {"segment": "a"}, "today": "9999-12-31"}', 400, "body.today: 9999-12-31 is"),
        ('{"rule": ', 400, "body: not valid JSON"),
    ],
)
def test_hostile_bodies_get_clear_refusals(
    console: Console, body: str, status: int | None, detail: str | None
) -> None:
    analyst = console.clients["analyst"]
    reply = analyst.post(
        "/api/segments/preview",
        content=body,
        headers={**headers(analyst), "Content-Type": "application/json"},
    )
    if status is None:  # too deep for any JSON parser: refused, never a server error
        assert reply.status_code == 400, reply.text[:300]
        return
    assert reply.status_code == status, reply.text[:300]
    if detail is not None:
        assert detail in reply.json()["detail"]


def test_a_quoted_value_selects_its_user(console: Console) -> None:
    analyst = console.clients["analyst"]
    for city, uid in (('O\'Brien "路"', "b"), (HOSTILE, "c")):
        reply = analyst.post(
            "/api/segments/preview",
            json={"rule": {"trait": "city", "op": "=", "value": city}},
            headers=headers(analyst),
        )
        assert reply.json() == {"count": 1, "sample": [uid]}
    everyone = analyst.post(
        "/api/segments/preview", json={"rule": {"not": BUYERS}}, headers=headers(analyst)
    )
    assert everyone.json() == {"count": 5, "sample": ["anon-only", "b", "c", "d", "e"]}


def test_crud_by_role(console: Console) -> None:
    op, analyst, viewer = (console.clients[r] for r in ("operator", "analyst", "viewer"))
    body = {"code": "buyers", "name": "近30天购买", "rule": BUYERS}
    assert viewer.post("/api/segments", json=body, headers=headers(viewer)).status_code == 403
    made = op.post("/api/segments", json=body, headers=headers(op))
    assert made.status_code == 201, made.text
    assert made.json()["size"] == 1 and made.json()["kind"] == "dynamic"
    assert made.json()["owner"] == "operator"
    again = op.post("/api/segments", json=body, headers=headers(op))
    assert again.status_code == 409 and again.json() == {
        "detail": "segment 'buyers' already exists"
    }

    static = op.post(
        "/api/segments",
        json={"code": "vip", "name": "VIP", "kind": "static", "user_ids": ["c", "zz", "c"]},
        headers=headers(op),
    )
    assert static.status_code == 201 and static.json()["size"] == 2
    mixed = op.post(
        "/api/segments",
        json={"code": "x", "name": "x", "rule": BUYERS, "user_ids": ["a"]},
        headers=headers(op),
    )
    assert mixed.status_code == 400
    assert mixed.json()["detail"] == "give exactly one of rule, user_ids, funnel, retention"
    empty = op.post(
        "/api/segments",
        json={"code": "x", "name": "x", "kind": "static", "user_ids": []},
        headers=headers(op),
    )
    assert empty.status_code == 400 and empty.json()["detail"].endswith("no user ids given")

    listed = viewer.get("/api/segments").json()
    assert [s["code"] for s in listed] == ["buyers", "vip"]
    assert viewer.get("/api/segments/vip").json()["source"] == "upload by operator (3 ids)"
    assert viewer.get("/api/segments/nope").status_code == 404

    changed = op.put(
        "/api/segments/buyers/rule",
        json={"rule": {"any": [BUYERS, {"segment": "vip"}]}},
        headers=headers(op),
    )
    # "zz" is in the static list but unknown to the warehouse: rules see known users only.
    assert changed.status_code == 200 and changed.json()["size"] == 2
    refused = viewer.put(
        "/api/segments/buyers/rule", json={"rule": BUYERS}, headers=headers(viewer)
    )
    assert refused.status_code == 403
    by_analyst = analyst.post(  # segment definitions act on no user: analysts save them
        "/api/segments",
        json={"code": "mine", "name": "mine", "rule": BUYERS},
        headers=headers(analyst),
    )
    assert by_analyst.status_code == 201 and by_analyst.json()["owner"] == "analyst"
    assert analyst.delete("/api/segments/mine", headers=headers(analyst)).status_code == 200
    loop = op.put(
        "/api/segments/vip/rule", json={"rule": {"segment": "buyers"}}, headers=headers(op)
    )
    assert loop.status_code == 400 and "is static" in loop.json()["detail"]

    export = viewer.get("/api/segments/buyers/export")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.text == "user_id\r\na\r\nc\r\n"
    assert viewer.get("/api/segments/vip/export").text == "user_id\r\nc\r\nzz\r\n"
    assert viewer.get("/api/segments/nope/export").status_code == 404

    in_use = op.delete("/api/segments/vip", headers=headers(op))
    assert in_use.status_code == 409 and "used by segment(s) buyers" in in_use.json()["detail"]
    assert viewer.delete("/api/segments/buyers", headers=headers(viewer)).status_code == 403
    assert op.delete("/api/segments/buyers", headers=headers(op)).json() == {"deleted": "buyers"}
    assert op.delete("/api/segments/vip", headers=headers(op)).status_code == 200
    assert viewer.get("/api/segments").json() == []


def test_static_from_a_funnel_and_a_retention_cell(console: Console) -> None:
    op = console.clients["operator"]
    today = datetime.now(UTC).date()
    funnel = {
        "steps": [{"event": "purchase"}, {"event": "app_open"}],
        "from": (today - timedelta(days=10)).isoformat(),
        "to": today.isoformat(),
        "dropped_at": 2,
    }
    made = op.post(
        "/api/segments",
        json={"code": "no_open", "name": "买了没再打开", "kind": "static", "funnel": funnel},
        headers=headers(op),
    )
    assert made.status_code == 201, made.text
    assert made.json()["size"] == 1 and made.json()["source"].startswith(
        "funnel purchase > app_open"
    )
    dynamic = op.post(
        "/api/segments",
        json={"code": "f2", "name": "x", "funnel": funnel},
        headers=headers(op),
    )
    assert dynamic.status_code == 400 and "give kind 'static'" in dynamic.json()["detail"]
    cell = op.post(
        "/api/segments",
        json={
            "code": "cell",
            "name": "x",
            "kind": "static",
            "retention": {"period": "month", "cohort": "1999-01-01", "k": 0},
        },
        headers=headers(op),
    )
    assert cell.status_code == 400 and "is not the first day of a month" in cell.json()["detail"]
    op.delete("/api/segments/no_open", headers=headers(op))


def test_openapi_documents_the_routes(console: Console) -> None:
    paths = console.anonymous.get("/openapi.json").json()["paths"]
    assert {"/api/segments", "/api/segments/preview", "/api/segments/{code}/export"} <= set(paths)
