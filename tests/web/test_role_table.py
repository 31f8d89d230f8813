"""Every console page and JSON API route of the console, for every role: who gets in.

The table is the specification of access: a route added to the console or the API without a
line here fails `test_every_route_is_in_the_table`. Writes carry a valid CSRF token here, so the
answer shows the role check alone (tests/web/test_sessions.py covers CSRF).

Codes per column: anonymous, viewer, analyst, operator, admin.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from tests.web.support import Console, csrf_token
from userops.api import operators as api_operators
from userops.api import overview as api_overview
from userops.web import admin as web_admin
from userops.web import pages as web_pages

WHO = ("anonymous", "viewer", "analyst", "operator", "admin")

# method, route path (as registered), request path, expected codes for WHO, JSON body
TABLE: list[tuple[str, str, str, str, object]] = [
    # console pages
    ("GET", "/", "/", "303 200 200 200 200", None),
    ("GET", "/login", "/login", "200 303 303 303 303", None),
    ("GET", "/logout", "/logout", "303 200 200 200 200", None),
    ("GET", "/lang/{code}", "/lang/en", "303 303 303 303 303", None),
    ("GET", "/admin/operators", "/admin/operators", "303 403 403 403 200", None),
    ("POST", "/admin/operators", "/admin/operators", "303 403 403 403 303", "create-form"),
    (
        "POST",
        "/admin/operators/{username:path}/role",
        "/admin/operators/target/role",
        "303 403 403 403 303",
        {"role": "viewer"},
    ),
    (
        "POST",
        "/admin/operators/{username:path}/deactivate",
        "/admin/operators/target/deactivate",
        "303 403 403 403 303",
        {},
    ),
    (
        "POST",
        "/admin/operators/{username:path}/reactivate",
        "/admin/operators/target/reactivate",
        "303 403 403 403 303",
        {},
    ),
    ("GET", "/admin/keys", "/admin/keys", "303 403 403 403 200", None),
    ("POST", "/admin/keys", "/admin/keys", "303 403 403 403 200", {"name": "shop backend"}),
    ("POST", "/admin/keys/{key_id}/revoke", "/admin/keys/1/revoke", "303 403 403 403 303", {}),
    ("GET", "/admin/audit", "/admin/audit", "303 403 403 403 200", None),
    # JSON API
    ("GET", "/api/me", "/api/me", "401 200 200 200 200", None),
    ("GET", "/api/overview", "/api/overview", "401 200 200 200 200", None),
    ("GET", "/api/operators", "/api/operators", "401 403 403 403 200", None),
    ("POST", "/api/operators", "/api/operators", "401 403 403 403 201", "create-json"),
    (
        "PATCH",
        "/api/operators/{username:path}/role",
        "/api/operators/target/role",
        "401 403 403 403 200",
        {"role": "viewer"},
    ),
    (
        "POST",
        "/api/operators/{username:path}/deactivate",
        "/api/operators/target/deactivate",
        "401 403 403 403 200",
        None,
    ),
    (
        "POST",
        "/api/operators/{username:path}/reactivate",
        "/api/operators/target/reactivate",
        "401 403 403 403 200",
        None,
    ),
    ("GET", "/api/audit", "/api/audit", "401 403 403 403 200", None),
]

# POST /login and POST /logout are open to everyone by design: tests/web/test_sessions.py.
OPEN_BY_DESIGN = {("POST", "/login"), ("POST", "/logout")}


def test_every_route_is_in_the_table() -> None:
    routers = (web_pages.router, web_admin.router, api_operators.router, api_overview.router)
    registered = {
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute | Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    listed = {(method, path) for method, path, *_ in TABLE}
    assert registered - OPEN_BY_DESIGN == listed


@pytest.fixture(scope="module")
def with_target(shared_console: Console) -> Console:
    from userops.services import auth, keys

    auth.create_operator_account(
        shared_console.engine, username="target", password="target-pass", role="viewer", actor="t"
    )
    keys.create_write_key(shared_console.engine, name="key to revoke", actor="t")  # id 1
    return shared_console


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "_route", "path", "codes", "body"), TABLE)
def test_access(
    with_target: Console, who: str, method: str, _route: str, path: str, codes: str, body: object
) -> None:
    client = with_target.client(who)
    expected = int(codes.split()[WHO.index(who)])
    if path.startswith("/api/"):
        token = client.get("/api/me").json().get("csrf_token", "") if who != "anonymous" else ""
        json_body = body
        if body == "create-json":
            json_body = {"username": f"new-{uuid.uuid4().hex[:8]}", "password": "password-1"}
        response = client.request(
            method, path, json=json_body, headers={"X-CSRF-Token": token}, follow_redirects=False
        )
    else:
        data: dict[str, str] = dict(body) if isinstance(body, dict) else {}
        if body == "create-form":
            data = {"username": f"new-{uuid.uuid4().hex[:8]}", "password": "password-1"}
        if method != "GET":
            data["csrf_token"] = csrf_token(client, "/login" if who == "anonymous" else "/logout")
        response = client.request(method, path, data=data or None, follow_redirects=False)
    assert response.status_code == expected, (who, method, path, response.text[:300])
    sent_to_login = response.status_code == 303 and who == "anonymous"
    if sent_to_login and path != "/login" and not path.startswith("/lang/"):
        assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("who", ["viewer", "analyst", "operator"])
def test_a_refused_page_is_the_403_page(shared_console: Console, who: str) -> None:
    response = shared_console.client(who).get("/admin/operators")
    assert response.status_code == 403
    assert 'data-status="403"' in response.text
    assert 'href="/admin/operators"' not in response.text  # no admin entries in the nav


def test_admins_see_the_admin_navigation(shared_console: Console) -> None:
    page = shared_console.client("admin").get("/").text
    assert 'href="/admin/operators"' in page and 'href="/admin/audit"' in page


def test_static_files_and_openapi_are_public(shared_console: Console) -> None:
    client = shared_console.anonymous
    for path in (
        "/static/console.css",
        "/static/console.js",
        "/static/vendor/htmx.min.js",
        "/static/vendor/echarts.min.js",
        "/openapi.json",
    ):
        assert client.get(path).status_code == 200, path
