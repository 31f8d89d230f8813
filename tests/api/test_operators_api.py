"""The JSON API for operators: /api/me, /api/operators, /api/audit, and what /openapi.json says.

Access by role is in tests/web/test_role_table.py; these tests follow the changes themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.support import Console, cheap_password_hashing, running_console
from userops.services import auth


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with cheap_password_hashing(), running_console(tmp_path / "data") as running:
        yield running


def token(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def test_me(console: Console) -> None:
    body = console.clients["analyst"].get("/api/me").json()
    assert body["username"] == "analyst" and body["role"] == "analyst"
    assert body["permissions"] == ["view", "analyse"]
    assert body["last_login_at"] is not None and len(body["csrf_token"]) > 30
    assert "password" not in str(body).replace("password_", "")


def test_admins_manage_operators_and_the_audit_log_names_them(console: Console) -> None:
    admin = console.clients["admin"]
    headers = token(admin)
    created = admin.post(
        "/api/operators",
        json={"username": "Dora", "password": "password-1", "role": "operator"},
        headers=headers,
    )
    assert created.status_code == 201
    assert created.json()["username"] == "dora" and created.json()["role"] == "operator"
    changed = admin.patch("/api/operators/dora/role", json={"role": "analyst"}, headers=headers)
    assert changed.status_code == 200 and changed.json()["role"] == "analyst"
    off = admin.post("/api/operators/dora/deactivate", headers=headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    on = admin.post("/api/operators/dora/reactivate", headers=headers)
    assert on.json()["is_active"] is True
    assert "dora" in [op["username"] for op in admin.get("/api/operators").json()]

    entries = admin.get("/api/audit?limit=4").json()
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("admin", "operators.reactivate", "dora"),
        ("admin", "operators.deactivate", "dora"),
        ("admin", "operators.set_role", "dora"),
        ("admin", "operators.create", "dora"),
    ]
    assert entries[2]["detail"] == {"from": "operator", "to": "analyst"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        (
            "POST",
            "/api/operators",
            {"username": "viewer", "password": "password-1"},
            409,
            "already exists",
        ),
        (
            "POST",
            "/api/operators",
            {"username": "x", "password": "short"},
            400,
            "body.password: String should have at least 8 characters",
        ),
        (
            "POST",
            "/api/operators",
            {"username": "x", "password": "password-1", "role": "root"},
            400,
            "body.role: Input should be 'admin', 'operator', 'analyst' or 'viewer'",
        ),
        (
            "POST",
            "/api/operators",
            {"username": "x", "password": "password-1", "rol": "admin"},
            400,
            "body: unknown field 'rol'; the fields are username, password, role, display_name",
        ),
        (
            "POST",
            "/api/operators",
            {"username": "a b", "password": "password-1"},
            400,
            "contains spaces",
        ),
        ("PATCH", "/api/operators/ghost/role", {"role": "viewer"}, 404, "no operator"),
        ("PATCH", "/api/operators/admin/role", {"role": "viewer"}, 409, "last active admin"),
        ("POST", "/api/operators/admin/deactivate", None, 409, "last active admin"),
        ("POST", "/api/operators/ghost/deactivate", None, 404, "no operator"),
    ],
)
def test_refused_changes(
    console: Console, method: str, path: str, body: object, status: int, message: str | None
) -> None:
    admin = console.clients["admin"]
    before = admin.get("/api/audit").json()
    response = admin.request(method, path, json=body, headers=token(admin))
    assert response.status_code == status, response.text
    if message:
        assert message in response.json()["detail"]
    assert admin.get("/api/audit").json() == before  # nothing changed, nothing recorded


def test_an_audit_offset_past_a_billion_is_refused(console: Console) -> None:
    # It was a 500: "Python int too large to convert to SQLite INTEGER".
    admin = console.clients["admin"]
    reply = admin.get("/api/audit?offset=99999999999999999999")
    assert reply.status_code == 400
    assert reply.json()["detail"] == "limit must be 1 to 1000 and offset 0 to 1,000,000,000"
    assert admin.get("/api/audit?offset=1000000000").json() == []


@pytest.mark.parametrize("header", [None, "wrong-token"])
def test_writes_need_the_csrf_header(console: Console, header: str | None) -> None:
    admin = console.clients["admin"]
    headers = {"X-CSRF-Token": header} if header else {}
    response = admin.post(
        "/api/operators", json={"username": "eve", "password": "password-1"}, headers=headers
    )
    assert response.status_code == 403 and "X-CSRF-Token" in response.json()["detail"]
    response = admin.patch("/api/operators/viewer/role", json={"role": "admin"}, headers=headers)
    assert response.status_code == 403
    assert auth.find_operator_account(console.engine, username="eve") is None


def test_anonymous_requests_are_told_to_sign_in(console: Console) -> None:
    response = console.anonymous.get("/api/operators")
    assert response.status_code == 401 and "/login" in response.json()["detail"]


def test_openapi_documents_the_console_api(console: Console) -> None:
    spec = console.anonymous.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/api/me", "get"),
        ("/api/overview", "get"),
        ("/api/operators", "get"),
        ("/api/operators", "post"),
        ("/api/operators/{username}/role", "patch"),
        ("/api/operators/{username}/deactivate", "post"),
        ("/api/audit", "get"),
    ]:
        assert method in paths[path], (path, method)
    schemas = spec["components"]["schemas"]
    assert {"OperatorOut", "MeOut", "OverviewOut", "AuditEntryOut", "OperatorCreate"} <= set(
        schemas
    )
    assert schemas["OperatorOut"]["properties"]["role"]["enum"] == [
        "admin",
        "operator",
        "analyst",
        "viewer",
    ]
    security = spec["components"]["securitySchemes"]
    assert security["APIKeyCookie"]["name"] == auth.SESSION_COOKIE
    assert security["APIKeyHeader"]["name"] == auth.CSRF_HEADER
    assert not any(p.startswith(("/admin", "/login", "/lang")) for p in paths)  # pages stay out
    # A request that fails validation is a 400 Refusal, as docs/api.md says, never a 422.
    answers = [op["responses"] for path in paths.values() for op in path.values()]
    assert not any("422" in a for a in answers)
    refusal = paths["/api/operators"]["post"]["responses"]["400"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/Refusal")
    assert "Refusal" in schemas and "HTTPValidationError" not in schemas
