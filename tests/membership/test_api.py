"""The JSON API of the growth system: roles, idempotent writes, refusals, the main flows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
