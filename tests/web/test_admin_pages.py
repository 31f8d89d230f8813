"""The admin pages at work: operators added and changed from the console, write keys created
and revoked, and the audit log that records it all."""

from __future__ import annotations

import re

from tests.web.support import Console, csrf_token, login
from userops.services import auth, keys


def test_an_admin_adds_an_operator_who_can_then_sign_in(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/admin/operators")
    form = {
        "username": "Li.Wei",
        "display_name": "李伟",
        "password": "password-1",
        "role": "operator",
        "csrf_token": token,
    }
    response = admin.post("/admin/operators", data=form)
    assert response.status_code == 200 and "Operator li.wei was added." in response.text
    assert "李伟" in response.text
    from fastapi.testclient import TestClient

    client = TestClient(console.app)
    login(client, "li.wei", "password-1")
    assert client.get("/api/me").json()["role"] == "operator"


def test_a_refused_operator_keeps_the_form(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/admin/operators")
    form = {
        "username": "viewer",
        "display_name": "Again",
        "password": "password-1",
        "role": "analyst",
        "csrf_token": token,
    }
    response = admin.post("/admin/operators", data=form)
    assert response.status_code == 400 and "already exists" in response.text
    assert 'value="Again"' in response.text and '<option value="analyst" selected>' in response.text


def test_role_change_and_deactivation_from_the_console(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/admin/operators")
    page = admin.post(
        "/admin/operators/viewer/role", data={"role": "operator", "csrf_token": token}
    ).text  # followed the redirect back to the list
    assert "viewer is now Operator." in page
    assert "viewer is now Operator." not in admin.get("/admin/operators").text  # shown once
    admin.post("/admin/operators/viewer/deactivate", data={"csrf_token": token})
    assert auth.find_operator_account(console.engine, username="viewer").is_active is False  # type: ignore[union-attr]
    assert console.clients["viewer"].get("/", follow_redirects=False).status_code == 303
    entries = [(e.actor, e.action, e.target) for e in auth.list_audit_entries(console.engine)]
    assert entries[:2] == [
        ("admin", "operators.deactivate", "viewer"),
        ("admin", "operators.set_role", "viewer"),
    ]


def test_the_last_admin_is_kept_from_the_console_too(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/admin/operators")
    response = admin.post(
        "/admin/operators/admin/role",
        data={"role": "viewer"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 200 and "last active admin" in response.text
    assert '<option value="admin" selected>' in response.text  # the row shows the role kept


def test_write_keys_are_shown_once_and_can_be_revoked(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/admin/keys")
    response = admin.post("/admin/keys", data={"name": "shop backend", "csrf_token": token})
    assert response.status_code == 200
    secret = re.search(r'<code id="new-key-secret" class="secret">([^<]+)</code>', response.text)
    assert secret and secret.group(1).startswith(keys.KEY_MARK)
    assert keys.verify_write_key(console.engine, secret=secret.group(1)) is not None
    assert secret.group(1) not in str(response.headers)  # not in a cookie
    page = admin.get("/admin/keys").text
    assert secret.group(1) not in page and "shop backend" in page
    [key] = keys.list_write_keys(console.engine)
    assert key.created_by == auth.find_operator_account(console.engine, username="admin").id  # type: ignore[union-attr]
    response = admin.post(f"/admin/keys/{key.id}/revoke", data={"csrf_token": token})
    assert "The key shop backend was revoked." in response.text
    assert keys.verify_write_key(console.engine, secret=secret.group(1)) is None
    actions = [e.action for e in auth.list_audit_entries(console.engine)]
    assert actions[:2] == ["keys.revoke", "keys.create"]
    assert admin.post("/admin/keys/999/revoke", data={"csrf_token": token}).status_code == 404


def test_the_audit_log_pages(console: Console) -> None:
    for n in range(60):
        auth.change_role(
            console.engine, username="viewer", role=("analyst", "viewer")[n % 2], actor="cli"
        )
    admin = console.clients["admin"]
    first = admin.get("/admin/audit").text
    assert first.count("operators.set_role") == 50 and 'href="/admin/audit?page=2"' in first
    second = admin.get("/admin/audit?page=2").text
    assert 'href="/admin/audit?page=1"' in second
