"""Signing in and out, the session cookie's flags, CSRF on every form, the login throttle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.support import PASSWORD, Console, console_settings, csrf_token, login
from userops.server import create_app
from userops.services import auth
from userops.web.middleware import CONTENT_SECURITY_POLICY


def session_cookie_header(response_headers: list[str]) -> str:
    found = [h for h in response_headers if h.startswith(f"{auth.SESSION_COOKIE}=")]
    assert found, "no session cookie set"
    return found[-1]


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(console: Console) -> None:
    client = TestClient(console.app)
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": "Viewer", "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = session_cookie_header(response.headers.get_list("set-cookie"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    page = client.get("/")
    assert page.status_code == 200 and 'data-metric="new_users"' in page.text
    assert auth.find_operator_account(console.engine, username="viewer").last_login_at is not None

    new_token = csrf_token(client, "/logout")
    assert new_token != token  # a new token at login
    response = client.post("/logout", data={"csrf_token": new_token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?bye=1"
    assert "Max-Age=0" in session_cookie_header(response.headers.get_list("set-cookie"))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert "signed out" in client.get("/login?bye=1").text


def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    app = create_app(console_settings(tmp_path / "data"))
    with TestClient(app, base_url="https://console.example") as client:
        response = client.get("/login")
        assert "; Secure" in session_cookie_header(response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("username", "password"), [("viewer", "wrong-password"), ("nobody", PASSWORD), ("", "")]
)
def test_a_failed_login_says_so(console: Console, username: str, password: str) -> None:
    client = TestClient(console.app)
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_needs_the_csrf_token(console: Console) -> None:
    client = TestClient(console.app)
    csrf_token(client)
    response = client.post("/login", data={"username": "viewer", "password": PASSWORD})
    assert response.status_code == 403 and "expired" in response.text
    # the page offers a fresh token, and signing in with it works
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match
    ok = client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": match.group(1)},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_login_is_throttled_after_repeated_failures(console: Console) -> None:
    client = TestClient(console.app)
    token = csrf_token(client)
    for _ in range(5):
        bad = {"username": "viewer", "password": "nope-nope", "csrf_token": token}
        assert client.post("/login", data=bad).status_code == 401
    good = {"username": "viewer", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data=good)
    assert response.status_code == 429 and "Too many" in response.text


@pytest.mark.parametrize(
    ("next_value", "location"),
    [
        ("/admin/audit", "/admin/audit"),
        ("//evil.example/", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
    ],
)
def test_login_returns_only_to_local_pages(
    console: Console, next_value: str, location: str
) -> None:
    client = TestClient(console.app)
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": next_value},
        follow_redirects=False,
    )
    assert response.headers["location"] == location


def test_a_page_asked_for_before_login_comes_back_after(console: Console) -> None:
    client = TestClient(console.app)
    response = client.get("/admin/audit?page=2", follow_redirects=False)
    assert response.headers["location"] == "/login?next=/admin/audit%3Fpage%3D2"
    assert (
        'name="next" value="/admin/audit?page=2"' in client.get(response.headers["location"]).text
    )


UNSAFE_FORMS = [
    ("/logout", {}),
    ("/admin/operators", {"username": "mallory", "password": "password-1", "role": "admin"}),
    ("/admin/operators/viewer/role", {"role": "admin"}),
    ("/admin/operators/viewer/deactivate", {}),
    ("/admin/operators/viewer/reactivate", {}),
]


@pytest.mark.parametrize(("path", "data"), UNSAFE_FORMS)
@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_every_form_needs_the_sessions_csrf_token(
    shared_console: Console, path: str, data: dict[str, str], token: str
) -> None:
    console = shared_console
    admin = console.clients["admin"]
    form = dict(data)
    if token == "wrong":
        form["csrf_token"] = "x" * 43
    elif token == "another session's":
        form["csrf_token"] = csrf_token(console.clients["viewer"], "/logout")
    response = admin.post(path, data=form, follow_redirects=False)
    assert response.status_code == 403
    assert 'data-status="403"' in response.text
    assert auth.find_operator_account(console.engine, username="mallory") is None
    viewer = auth.find_operator_account(console.engine, username="viewer")
    assert viewer is not None and viewer.role == "viewer" and viewer.is_active
    assert admin.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_htmx_sends_the_token_as_a_header(console: Console) -> None:
    admin = console.clients["admin"]
    token = csrf_token(admin, "/logout")
    response = admin.post(
        "/admin/operators/viewer/role",
        data={"role": "analyst"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<tr id="op-viewer"')
    assert '<option value="analyst" selected>' in response.text


def test_the_body_carries_the_token_for_htmx(console: Console) -> None:
    admin = console.clients["admin"]
    page = admin.get("/").text
    token = csrf_token(admin, "/logout")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page


def test_a_session_ends_when_the_operator_is_deactivated(console: Console) -> None:
    auth.deactivate_operator_account(console.engine, username="analyst", actor="admin")
    assert console.clients["analyst"].get("/", follow_redirects=False).status_code == 303
    assert console.clients["analyst"].get("/api/me").status_code == 401


def test_a_forged_cookie_is_no_session(console: Console) -> None:
    forged = auth.SessionCodec("not-the-server-key" * 2).dumps({"op": 1, "csrf": "x"})
    client = TestClient(console.app, cookies={auth.SESSION_COOKIE: forged})
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/me").status_code == 401


def test_htmx_requests_without_a_session_are_sent_to_login(console: Console) -> None:
    client = TestClient(console.app)
    token = csrf_token(client)
    response = client.post(
        "/admin/operators/viewer/role",
        data={"role": "admin"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"


def test_pages_carry_security_headers(console: Console) -> None:
    response = console.clients["viewer"].get("/")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "cdn" not in response.text.lower()
    assert not re.search(r'src="(https?:)?//', response.text)  # every script is ours


def test_login_again_after_logout_works(console: Console) -> None:
    client = TestClient(console.app)
    login(client, "operator")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    login(client, "operator")
    assert client.get("/api/me").json()["username"] == "operator"
