"""The JSON API of the growth system: roles, idempotent writes, refusals, the main flows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.web.support import Console, cheap_password_hashing, running_console


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with cheap_password_hashing(), running_console(tmp_path / "data") as running:
        yield running


def headers(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def test_points_by_role_with_replays_and_refusals(console: Console) -> None:
    operator, viewer = console.clients["operator"], console.clients["viewer"]
    body = {"amount": 100, "key": "k1", "expiry": "days:30"}
    assert console.anonymous.get("/api/points/u1").status_code == 401
    refused = viewer.post("/api/points/u1/award", json=body, headers=headers(viewer))
    assert refused.status_code == 403
    first = operator.post("/api/points/u1/award", json=body, headers=headers(operator))
    assert first.status_code == 200 and first.json()["balance"]["available"] == 100
    again = operator.post("/api/points/u1/award", json=body, headers=headers(operator))
    assert again.json()["replayed"] and again.json()["entries"] == first.json()["entries"]
    assert first.json()["entries"][0]["actor"] == "operator"
    other = operator.post("/api/points/u2/award", json=body, headers=headers(operator))
    assert other.status_code == 409 and "already used" in other.json()["detail"]
    too_much = operator.post(
        "/api/points/u1/redeem", json={"amount": 101, "key": "r"}, headers=headers(operator)
    )
    assert too_much.status_code == 409 and "100 points available" in too_much.json()["detail"]
    spent = operator.post(
        "/api/points/u1/redeem",
        json={"amount": 40, "key": "r", "reference": "o1"},
        headers=headers(operator),
    )
    assert spent.json()["balance"]["available"] == 60
    back = operator.post(
        "/api/points/u1/reverse", json={"key": "v", "order": "o1"}, headers=headers(operator)
    )
    assert back.json()["balance"]["available"] == 100
    bad = operator.post(
        "/api/points/u1/adjust",
        json={"amount": 5, "key": "a", "reason": "x", "expiry": "weeks:2"},
        headers=headers(operator),
    )
    assert bad.status_code == 400 and "expiry" in bad.json()["detail"]
    assert viewer.get("/api/points/u1").json()["available"] == 100
    assert [e["kind"] for e in viewer.get("/api/points/u1/ledger").json()] == [
        "reverse",
        "spend",
        "earn",
    ]
    campaign = operator.post(
        "/api/points/campaigns",
        json={"key": "c", "amount": 5, "user_ids": ["u1", "u3"]},
        headers=headers(operator),
    )
    assert campaign.json() == {"awarded": 2, "already": 0, "points": 10}
    report = viewer.get("/api/points/economy?from=2020-01-01").json()
    assert report["total"]["outstanding"] == 110


def test_levels_benefits_rules_badges_boards(console: Console) -> None:
    op, viewer = console.clients["operator"], console.clients["viewer"]
    h = headers(op)
    scheme = {
        "code": "vip",
        "policy": "up_down",
        "window_months": 12,
        "keep_days": 30,
        "levels": [{"code": "l1", "threshold": 0}, {"code": "l2", "threshold": 100}],
    }
    assert op.post("/api/levels/schemes", json=scheme, headers=h).status_code == 201
    assert op.post("/api/levels/schemes", json=scheme, headers=h).status_code == 400
    assert (
        op.post(
            "/api/benefits", json={"code": "x2", "kind": "points_multiplier"}, headers=h
        ).status_code
        == 201
    )
    granted = op.post(
        "/api/benefits/grants",
        json={"scheme": "vip", "level": "l2", "benefit": "x2", "value": 200},
        headers=h,
    )
    assert granted.json()["levels"][1]["benefits"][0]["value"] == 200
    rule = {
        "code": "buy",
        "event": "purchase",
        "points": {"mode": "per_amount", "value": 1},
        "growth": {"mode": "per_amount", "value": 1},
        "points_caps": {"day": 1000},
    }
    assert op.post("/api/rules", json=rule, headers=h).status_code == 201
    assert viewer.get("/api/rules").json()[0]["points_caps"]["day"] == 1000
    key = op.post("/api/points/u9/award", json={"amount": 1, "key": "x"}, headers=h)
    assert key.status_code == 200
    evaluated = op.post("/api/levels/evaluate", json={"on": "2026-05-01"}, headers=h).json()
    assert evaluated["users"] == 0
    assigned = op.post("/api/levels/vip/members/u9/assign", json={"level": "l2"}, headers=h)
    assert assigned.json()["level"] == "l2"
    assert viewer.get("/api/levels/vip/members/u9").json()["assigned"] is True
    assert viewer.get("/api/levels/history/u9").json()[0]["actor"] == "operator"
    entitled = viewer.get("/api/benefits/entitlements/u9").json()
    assert entitled[0]["code"] == "x2"
    assert op.post("/api/rules/buy/pause", headers=h).json()["is_active"] is False
    assert op.post("/api/rules/backfill", headers=h).json()["applied"] == 0
    board = {"code": "pts", "metric": "points_earned", "period": "month"}
    assert op.post("/api/leaderboards", json=board, headers=h).status_code == 201
    standings = op.post("/api/leaderboards/pts/compute", headers=h).json()
    assert standings["entries"][0]["user_id"] == "u9"
    badge = {
        "code": "first",
        "kind": "event_count",
        "event": "purchase",
        "tiers": [{"threshold": 1, "name": "first"}],
    }
    assert op.post("/api/badges", json=badge, headers=h).status_code == 201
    assert op.post("/api/badges/evaluate", headers=h).json()["total"] == 0
    assert viewer.post("/api/badges/evaluate", headers=headers(viewer)).status_code == 403
    paths = console.anonymous.get("/openapi.json").json()["paths"]
    assert "/api/points/{user_id}/redeem" in paths and "/api/levels/evaluate" in paths


BIG = 2**70  # beyond the 64-bit integers SQLite and PostgreSQL store


def _refusal(reply: Response) -> str:
    assert reply.status_code == 400, reply.text
    detail: str = reply.json()["detail"]
    return detail


def test_out_of_range_numbers_and_days_are_refused_and_store_nothing(console: Console) -> None:
    """Found by exploratory testing: each was a 500 (an OverflowError from timedelta, date or
    the SQLite driver) with a traceback in the server log."""
    op, admin = console.clients["operator"], console.clients["admin"]
    h = headers(op)
    two = [{"code": "l1", "threshold": 0}, {"code": "l2", "threshold": 100}]
    scheme = {"code": "vip", "levels": two}
    assert op.post("/api/levels/schemes", json=scheme, headers=h).status_code == 201
    coupon = {"code": "cp", "kind": "monthly_coupons"}
    assert op.post("/api/benefits", json=coupon, headers=h).status_code == 201
    board = {"code": "pts", "metric": "points_earned"}
    assert op.post("/api/leaderboards", json=board, headers=h).status_code == 201
    assert op.post("/api/points/u1/award", json={"amount": 5, "key": "a0"}, headers=h).is_success
    rule = {"code": "r", "event": "buy", "points": {"mode": "fixed", "value": 1}}
    tier = {"threshold": BIG, "name": "forever"}
    backwards = {"starts_at": "2026-12-01T00:00Z", "ends_at": "2026-01-01T00:00Z"}
    grant = {"scheme": "vip", "level": "l2", "benefit": "cp"}
    out = "is out of range (1970-01-01 to 2200-12-31)"
    cases: list[tuple[str, str, object, str]] = [
        ("POST", "/api/points/u1/award", {"amount": 1, "key": "a1", "maturity_days": 3_000_000},
         "maturity must be 0 to 3650 days, not 3000000"),
        ("POST", "/api/points/u1/award", {"amount": 1, "key": "a2", "maturity_days": 10**9},
         "maturity must be 0 to 3650 days, not 1000000000"),
        ("POST", "/api/points/u1/award", {"amount": 1, "key": "a3", "expiry": "year_end:99999"},
         "expiry year_end:99999: the number must be at most 100"),
        ("POST", "/api/points/campaigns",
         {"key": "c", "amount": 1, "user_ids": ["u1"], "maturity_days": 10**9},
         "maturity must be 0 to 3650 days"),
        ("GET", "/api/points/u1/ledger?offset=99999999999999999999", None,
         "offset 0 to 1,000,000,000"),
        ("POST", "/api/levels/schemes",
         {"code": "big", "levels": [two[0], {"code": "b", "threshold": BIG}]},
         "level thresholds must be at most 1000000000000: level 'b' has 1180591620717411303424"),
        ("POST", "/api/benefits/grants", {**grant, "value": BIG},
         "benefit 'cp': the value must be 0 to 1000000000000, not 1180591620717411303424"),
        ("POST", "/api/benefits/grants", {**grant, "value": -500},
         "benefit 'cp': the value must be 0 to 1000000000000, not -500"),
        ("POST", "/api/benefits/grants", {**grant, "quota": BIG, "period": "month"},
         "the quota must be 0 to 1000000000000 uses"),
        ("GET", "/api/points/economy?from=0001-01-01&to=9999-12-31", None,
         f"the report's first day (from) 0001-01-01 {out}"),
        ("GET", "/api/points/economy?from=2026-01-01&to=9999-12-31", None,
         f"the report's last day (to) 9999-12-31 {out}"),
        ("GET", "/api/points/economy?from=1970-01-01&to=2200-12-31", None,
         "covers more than 240 months"),
        ("POST", "/api/rules", {**rule, "points": {"mode": "fixed", "value": 1, "unit_cents": BIG}},
         "the amount unit must be 1 to 1000000000000 cents"),
        ("POST", "/api/rules", {**rule, "points_caps": {"day": BIG}},
         "the day cap must be 0 to 1000000000000"),
        ("POST", "/api/rules", {**rule, "maturity_days": 10**9},
         "maturity must be 0 to 3650 days"),
        ("POST", "/api/rules", {**rule, "starts_at": "2026-01-01T00:00:00"},
         "the rule's start (starts_at) 2026-01-01T00:00:00 has no time zone"),
        ("POST", "/api/rules", {**rule, **backwards},
         "a rule must end after it starts"),
        ("POST", "/api/rules", {**rule, "ends_at": "9999-12-31T00:00:00Z"},
         f"body.ends_at: 9999-12-31T00:00:00+00:00 {out}"),
        ("POST", "/api/badges",
         {"code": "b", "kind": "event_count", "event": "buy", "tiers": [tier]},
         "tier thresholds must be at most 1000000000000"),
        ("POST", "/api/leaderboards/pts/compute?on=9999-12-31", None,
         f"the leaderboard day 9999-12-31 {out}"),
        ("GET", "/api/leaderboards/pts?on=0001-01-01", None,
         f"the leaderboard day 0001-01-01 {out}"),
        ("GET", "/api/levels/vip/distribution?on=9999-12-31", None, f"the day 9999-12-31 {out}"),
        ("GET", "/api/levels/vip/migration?from=0001-01-01&to=2026-01-01", None,
         f"the migration's first day 0001-01-01 {out}"),
        ("POST", "/api/levels/evaluate", {"on": "9999-12-31"}, f"body.on: 9999-12-31 {out}"),
        ("POST", "/api/levels/vip/members/u1/assign", {"level": "l2", "until": "9999-12-31"},
         f"body.until: 9999-12-31 {out}"),
    ]  # fmt: skip
    before = admin.get("/api/audit").json(), op.get("/api/points/u1/ledger").json()
    for method, path, body, problem in cases:
        reply = op.request(method, path, json=body, headers=h)
        assert problem in _refusal(reply), (method, path, body)
    assert (admin.get("/api/audit").json(), op.get("/api/points/u1/ledger").json()) == before
    assert op.get("/api/rules").json() == [] and op.get("/api/badges").json() == []


def test_unknown_fields_are_refused_naming_them(console: Console) -> None:
    """`{"date": ...}` for `on` evaluated today, `caps_points` for `points_caps` made a rule
    without caps: a field the route does not know is refused instead of ignored."""
    op = console.clients["operator"]
    h = headers(op)
    evaluate = op.post("/api/levels/evaluate", json={"date": "2026-02-30"}, headers=h)
    assert _refusal(evaluate) == "body: unknown field 'date'; the fields are on, scheme"
    rule = {"code": "r", "event": "buy", "points": {"mode": "fixed", "value": 1}}
    capped = op.post("/api/rules", json={**rule, "caps_points": {"day": 5}}, headers=h)
    assert _refusal(capped).startswith("body: unknown field 'caps_points'; the fields are code,")
    nested = op.post(
        "/api/rules", json={**rule, "points": {"mode": "fixed", "vaule": 3}}, headers=h
    )
    assert _refusal(nested) == (
        "body.points: unknown field 'vaule'; the fields are mode, value, unit_cents"
    )
    scheme = {"code": "vip", "levels": [{"code": "l1", "treshold": 0, "rank": 1}]}
    listed = op.post("/api/levels/schemes", json=scheme, headers=h)
    assert _refusal(listed).startswith("body.levels[0]: unknown fields 'treshold', 'rank';")
    assert op.get("/api/rules").json() == [] and op.get("/api/levels/schemes").json() == []


def test_validation_failures_are_400s_with_a_one_line_detail(console: Console) -> None:
    """docs/api.md: every refusal is one JSON object whose `detail` names what is wrong; FastAPI's
    own validation answered 422 with a list."""
    op = console.clients["operator"]
    h = headers(op)
    zero = op.post("/api/points/u1/award", json={"amount": 0, "key": "k"}, headers=h)
    assert zero.status_code == 400
    assert zero.json() == {
        "detail": "body.amount: Input should be greater than 0",
        "errors": [
            {
                "loc": ["body", "amount"],
                "msg": "body.amount: Input should be greater than 0",
                "type": "greater_than",
            }
        ],
    }
    empty = op.post("/api/points/u1/award", json={}, headers=h)
    assert _refusal(empty) == "body.amount: Field required (and 1 more: see errors)"
    assert [e["loc"] for e in empty.json()["errors"]] == [["body", "amount"], ["body", "key"]]
    broken = op.post(
        "/api/points/u1/award",
        content=b'{"amount":',
        headers={**h, "Content-Type": "application/json"},
    )
    assert _refusal(broken).startswith("body: not valid JSON (")
    assert _refusal(op.post("/api/points/u1/award", headers=h)) == (
        "body: a JSON object is required"
    )
    paged = op.get("/api/points/u1/ledger?limit=0")
    assert _refusal(paged) == "query.limit: Input should be greater than or equal to 1"
    assert op.get("/api/points/u1/ledger").json() == []
