"""The membership console (/membership): every page renders with data, the editors create and
change schemes, benefits and rules (audited), operators move balances from a member's page,
the roles are enforced on every route, bad input is shown next to its form and stores nothing,
and the economy numbers are the economy service's."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.web.support import Console, csrf_token, running_console
from userops.domain.membership.badges import Tier
from userops.domain.membership.incentives import AwardFormula, Caps
from userops.membership import badges, benefits, economy, leaderboards, levels, points, rules
from userops.membership.levels import LevelSpec
from userops.services import auth
from userops.store.db import session_scope
from userops.store.models import (
    AuditEntry,
    Benefit,
    IncentiveRule,
    Level,
    LevelBenefit,
    LevelScheme,
    PointsEntry,
)
from userops.web import membership as web_membership
from userops.web.i18n import EN, ZH_CN

SH = ZoneInfo("Asia/Shanghai")
TEMPLATES = Path(__file__).parents[2] / "src" / "userops" / "web" / "templates" / "membership"
_VALUE = re.compile(r'data-field="(\w+)"[^>]*>.*?data-value="([^"]*)"', re.S)


def _today() -> date:
    return datetime.now(SH).date()


def seed(engine: Any) -> None:
    """A scheme with a benefit, a rule that fired on two purchases (one capped), a manual
    award and a redemption, levels evaluated today, a badge and a ranked leaderboard."""
    levels.create_scheme(
        engine,
        code="club",
        name="Club",
        levels=[LevelSpec("silver", "Silver", 0), LevelSpec("gold", "Gold", 400)],
        policy="up_down",
        window_months=12,
        keep_days=30,
        notice_days=7,
    )
    benefits.create_benefit(engine, code="ship", name="Free shipping", kind="free_shipping")
    benefits.grant_benefit(
        engine, scheme="club", level="gold", benefit="ship", quota=2, period="month"
    )
    rules.create_rule(
        engine,
        code="buy",
        name="Purchase points",
        event="purchase",
        points=AwardFormula("per_amount", 1),
        growth=AwardFormula("per_amount", 1),
        points_caps=Caps(day=500),
        expiry="month_end:1",
    )
    now = datetime.now(UTC)
    rules.apply_events(
        engine,
        [
            {
                "message_id": "m1",
                "user_id": "u1",
                "event": "purchase",
                "timestamp": now - timedelta(days=40),
                "revenue": "1200",
                "properties": {"order_id": "o1"},
            },
            {
                "message_id": "m2",
                "user_id": "u2",
                "event": "purchase",
                "timestamp": now - timedelta(days=3),
                "revenue": "300",
                "properties": {"order_id": "o2"},
            },
        ],
        tz=SH,
    )
    points.award(engine, user_id="u1", amount=50, key="gift", reason="welcome")
    points.redeem(engine, user_id="u1", amount=30, key="r1", reference="o9")
    levels.evaluate(engine, on=_today() - timedelta(days=30), tz=SH)
    levels.evaluate(engine, on=_today(), tz=SH)
    badges.create_badge(
        engine,
        code="first",
        name="First purchase",
        kind="event_count",
        tiers=[Tier(1, "First")],
        event="purchase",
    )
    leaderboards.create_leaderboard(
        engine, code="top", name="Top earners", metric="points_earned", period="month"
    )
    leaderboards.compute(engine, code="top", day=_today(), tz=SH)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("membership") / "data") as running:
        seed(running.engine)
        yield running


def counts(engine: Any) -> dict[str, int]:
    """How many rows the forms could have written."""
    with session_scope(engine, read_only=True) as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (
                LevelScheme,
                Level,
                IncentiveRule,
                Benefit,
                LevelBenefit,
                PointsEntry,
                AuditEntry,
            )
        }


def token(client: TestClient) -> str:
    return csrf_token(client, "/logout")


def audit_actions(engine: Any, actor: str) -> list[tuple[str, str | None]]:
    return [
        (e.action, e.target)
        for e in auth.list_audit_entries(engine, limit=1000)
        if e.actor == actor
    ]


# Pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/membership", ["Outstanding (liability)", 'data-mchart="flows"', "migration-matrix"]),
        ("/membership/schemes", ["Club", "Up and down", "keep 30 d, notice 7 d", "Gold"]),
        (
            "/membership/schemes/club",
            ["scheme-form", 'value="gold"', "Free shipping", "2 per month"],
        ),
        ("/membership/rules", ["Purchase points", "1 per 1 yuan", "500/day", "month_end:1"]),
        ("/membership/rules/buy", ["rule-form", 'value="purchase"', 'value="500"']),
        ("/membership/honours", ["First purchase", "Top earners", "points earned"]),
        ("/membership/boards/top", ['data-rank="1"', ">u2<", ">300<", ">u1<", ">50<"]),
        ("/membership/members", ["find-member"]),
        ("/membership/members/u1", ["Member u1", 'data-value="520"', "welcome", "o9", "Gold"]),
        ("/membership/members/u2/panel", ["member-panel", 'data-value="300"', "Silver"]),
    ],
)
def test_each_page_renders_with_data(seeded: Console, path: str, expected: list[str]) -> None:
    response = seeded.clients["viewer"].get(path)
    assert response.status_code == 200, response.text[:500]
    for text in expected:
        assert text in response.text, (path, text)


def test_the_navigation_links_the_membership_area(seeded: Console) -> None:
    page = seeded.clients["viewer"].get("/").text
    assert '<a href="/membership">Membership</a>' in page


def test_the_pages_speak_chinese(seeded: Console) -> None:
    client = seeded.clients["viewer"]
    client.cookies.set("userops_lang", "zh-CN")
    try:
        page = client.get("/membership").text
        assert "未兑付积分（负债）" in page and "兑换率" in page
        assert "可进可退" in client.get("/membership/schemes").text
        assert "可用积分" in client.get("/membership/members/u1").text
    finally:
        client.cookies.delete("userops_lang")


def test_the_member_panel_is_a_fragment(seeded: Console) -> None:
    panel = seeded.clients["viewer"].get("/membership/members/u1/panel").text
    assert panel.lstrip().startswith("{#") is False
    assert "<html" not in panel and 'id="member-panel"' in panel
    assert "hx-get" not in panel or 'hx-target="#member-panel"' in panel


def test_a_viewer_sees_no_forms_that_change_anything(seeded: Console) -> None:
    client = seeded.clients["viewer"]
    assert "member-actions" not in client.get("/membership/members/u1").text
    assert 'id="new-rule"' not in client.get("/membership/rules").text
    assert "Pause</button>" not in client.get("/membership/rules").text
    scheme = client.get("/membership/schemes/club").text
    assert "grant-benefit" not in scheme and '<fieldset class="grid-form" disabled>' in scheme


def test_the_ledger_is_paged(tmp_path: Path) -> None:
    with running_console(tmp_path / "data") as running:
        for n in range(25):
            points.award(running.engine, user_id="pager", amount=n + 1, key=f"k{n}")
        client = running.clients["viewer"]
        first = client.get("/membership/members/pager").text
        assert first.count("data-entry=") == 20 and 'id="ledger-older"' in first
        assert "Ledger (25 entries)" in first
        second = client.get("/membership/members/pager/panel?page=2").text
        assert second.count("data-entry=") == 5 and 'id="ledger-older"' not in second
        assert ">+1<" in second and ">+25<" in first


@pytest.mark.parametrize("user_id", ["wx/oAb+c", "a b/c/d", "会员/001"])
def test_any_user_id_reaches_its_own_pages(tmp_path: Path, user_id: str) -> None:
    """Ids are the producer's: a slash, a space or a Chinese character is a part of the id,
    in the console (member page, its panel, its forms) and in the JSON API alike."""
    from urllib.parse import quote

    with running_console(tmp_path / "data") as running:
        points.award(running.engine, user_id="other", amount=5, key="o")
        points.award(running.engine, user_id=user_id, amount=7, key="k")
        client = running.clients["admin"]
        path = quote(user_id, safe="")
        page = client.get(f"/membership/members/{path}")
        assert page.status_code == 200 and ">+7<" in page.text and ">+5<" not in page.text
        panel = client.get(f"/membership/members/{path}/panel")
        assert panel.status_code == 200 and ">+7<" in panel.text and "<html" not in panel.text
        key = _keys(panel.text)["award"]
        form = {"amount": "3", "expiry": "never", "key": key, "csrf_token": token(client)}
        awarded = client.post(f"/membership/members/{path}/award", data=form)
        assert awarded.status_code == 200  # redirected back to the member's own page
        assert "3 points awarded; 10 available now." in awarded.text
        assert f"<title>{html.escape(user_id)} · Members" in awarded.text
        assert points.balance(running.engine, user_id=user_id).available == 10
        assert client.get(f"/api/points/{path}").json()["available"] == 10
        ledger = client.get(f"/api/points/{path}/ledger").json()
        assert sorted(e["amount"] for e in ledger) == [3, 7]


# Economy numbers ------------------------------------------------------------------------------


def test_the_dashboard_shows_the_economy_services_numbers(seeded: Console) -> None:
    start = date(_today().year - 1, _today().month, 1)
    end = _today()
    page = seeded.clients["viewer"].get(
        "/membership", params={"start": start.isoformat(), "end": end.isoformat(), "scheme": "club"}
    )
    assert page.status_code == 200
    report = economy.report(seeded.engine, start=start, end=end, tz=SH, scheme="club")
    cards = page.text.split('id="economy-cards"')[1].split("</section>")[0]
    shown = dict(_VALUE.findall(cards))
    total = report["total"]
    for field in ("issued", "redeemed", "expired", "reversed", "outstanding"):
        assert int(shown[field]) == total[field], field
    assert shown["redemption_rate"] == total["redemption_rate"]
    assert shown["breakage"] == total["breakage"]
    assert int(shown["pending"]) == report["months"][-1]["pending"]
    assert total["issued"] == 500 + 300 + 50 and total["redeemed"] == 30  # the cap held
    months = page.text.split('id="economy-months"')[1].split("</table>")[0]
    for row in report["months"]:
        part = months.split(f'data-month="{row["month"]}"')[1].split("</tr>")[0]
        cells = dict(re.findall(r'data-field="(\w+)">([\d,]+)<', part))
        for field in ("issued", "redeemed", "expired", "reversed", "outstanding", "pending"):
            assert int(cells[field].replace(",", "")) == row[field], (row["month"], field)
    by_rule = page.text.split('id="economy-rules"')[1].split("</table>")[0]
    for row in report["by_rule"]:
        part = by_rule.split(f'data-rule="{row["rule"] or ""}"')[1].split("</tr>")[0]
        cells = dict(re.findall(r'data-field="(\w+)">([\d,]+)<', part))
        assert int(cells["issued"].replace(",", "")) == row["issued"]
        assert int(cells["redeemed"].replace(",", "")) == row["redeemed"]
    chart = page.text.split('id="membership-economy-data">')[1].split("</script>")[0]
    drawn = json.loads(html.unescape(chart))  # what the charts draw: the same numbers
    assert drawn["months"] == [m["month"] for m in report["months"]]
    for flow in ("issued", "redeemed", "expired", "reversed"):
        assert drawn["flows"][flow] == [m[flow] for m in report["months"]]
    assert drawn["outstanding"] == [m["outstanding"] for m in report["months"]]
    assert drawn["growth"]["users"] == [g["users"] for g in report["growth"]]
    assert drawn["levels"]["users"] == [lv["users"] for lv in report["levels"]]
    # the migration matrix holds the service's migration, cell by cell
    matrix = page.text.split('id="migration-matrix"')[1].split("</table>")[0]
    for row in report["migration"]:
        line = matrix.split(f'<tr data-from="{row["from"] or ""}">')[1].split("</tr>")[0]
        cell = re.search(rf'data-to="{row["to"] or ""}">([\d,]+)<', line)
        assert cell is not None and int(cell.group(1)) == row["users"], row
    assert sum(r["users"] for r in report["migration"]) == 2


def test_a_bad_period_is_shown_and_the_default_used(seeded: Console) -> None:
    page = seeded.clients["viewer"].get("/membership", params={"start": "2026-13-01"})
    assert page.status_code == 400
    assert "the first day must be a date (YYYY-MM-DD)" in page.text
    assert 'id="economy-cards"' in page.text


# Schemes --------------------------------------------------------------------------------------


def scheme_form(code: str, rows: list[tuple[str, str, str, str]], **fields: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": fields.get("name", code.title()),
        "policy": fields.get("policy", "up_down"),
        "window_months": fields.get("window_months", "12"),
        "keep_days": fields.get("keep_days", "30"),
        "notice_days": fields.get("notice_days", "7"),
        "is_active": fields.get("is_active", "1"),
        "level_code": [r[0] for r in rows] + [""],
        "level_name": [r[1] for r in rows] + [""],
        "level_threshold": [r[2] for r in rows] + [""],
        "level_kind": [r[3] for r in rows] + ["earned"],
    }


def test_an_operator_creates_and_edits_a_scheme(seeded: Console) -> None:
    client = seeded.clients["operator"]
    rows = [
        ("bronze", "青铜", "0", "earned"),
        ("silver", "白银", "1,000", "earned"),
        ("vip", "VIP", "0", "invite_only"),
    ]
    form = {**scheme_form("ladder", rows), "csrf_token": token(client)}
    response = client.post("/membership/schemes", data=form, follow_redirects=False)
    assert (
        response.status_code == 303 and response.headers["location"] == "/membership/schemes/ladder"
    )
    assert "Level scheme ladder was created." in client.get(response.headers["location"]).text
    created = levels.get_scheme(seeded.engine, code="ladder")
    assert [(lv.code, lv.name, lv.threshold, lv.invite_only) for lv in created.levels] == [
        ("bronze", "青铜", 0, False),
        ("silver", "白银", 1000, False),
        ("vip", "VIP", 0, True),
    ]
    assert created.policy.policy == "up_down" and created.policy.window_months == 12
    assert ("levels.create_scheme", "ladder") in audit_actions(seeded.engine, "operator")

    # edit: rename, raise a threshold, add gold between silver and vip, drop nothing
    rows = [
        ("bronze", "青铜", "0", "earned"),
        ("silver", "白银会员", "1500", "earned"),
        ("gold", "黄金", "5000", "earned"),
        ("vip", "VIP", "0", "invite_only"),
    ]
    form = {
        **scheme_form("ladder", rows, policy="only_up", window_months=""),
        "csrf_token": token(client),
    }
    response = client.post("/membership/schemes/ladder", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[:1000]
    edited = levels.get_scheme(seeded.engine, code="ladder")
    assert [(lv.code, lv.rank, lv.threshold) for lv in edited.levels] == [
        ("bronze", 1, 0),
        ("silver", 2, 1500),
        ("gold", 3, 5000),
        ("vip", 4, 0),
    ]
    assert edited.levels[1].name == "白银会员"
    assert edited.policy.policy == "only_up" and edited.policy.window_months is None
    assert [lv.id for lv in edited.levels if lv.code != "gold"] == [
        lv.id for lv in created.levels
    ]  # the same levels, not new ones
    update = next(
        e
        for e in auth.list_audit_entries(seeded.engine, limit=1000)
        if e.action == "levels.update_scheme" and e.target == "ladder"
    )
    assert update.actor == "operator"
    assert update.detail["before"]["policy"] == "up_down"
    assert update.detail["after"]["policy"] == "only_up"


def test_a_level_someone_holds_cannot_be_removed(seeded: Console) -> None:
    client = seeded.clients["operator"]
    before = counts(seeded.engine)
    form = {
        **scheme_form("club", [("silver", "Silver", "0", "earned")]),
        "csrf_token": token(client),
    }
    response = client.post("/membership/schemes/club", data=form)
    assert response.status_code == 400
    assert "level &#39;gold&#39; cannot be removed: users hold or held it" in response.text
    assert counts(seeded.engine) == before
    assert [lv.code for lv in levels.get_scheme(seeded.engine, code="club").levels] == [
        "silver",
        "gold",
    ]


@pytest.mark.parametrize(
    ("rows", "fields", "message"),
    [
        (
            [("a", "A", "500", "earned"), ("b", "B", "100", "earned")],
            {},
            "level &#39;b&#39; (rank 2) needs a threshold above &#39;a&#39;&#39;s 500, not 100",
        ),
        ([("a", "A", "-5", "earned")], {}, "level thresholds must be 0 or more"),
        (
            [("a", "A", "ten", "earned")],
            {},
            "the threshold of level &#39;a&#39; must be a whole number",
        ),
        ([("a", "A", "", "earned")], {}, "the threshold of level &#39;a&#39; is required"),
        ([], {}, "a scheme needs at least one level"),
        ([("a", "A", "0", "earned"), ("a", "B", "10", "earned")], {}, "must be unique"),
        ([("a", "A", "0", "earned")], {"keep_days": "-1"}, "the keep period must be 0 or more"),
        ([("a", "A", "0", "earned")], {"window_months": "0"}, "the window must be 1 or more"),
        ([("a", "A", "0", "earned")], {"policy": "sideways"}, "policy &#39;sideways&#39;"),
        ([("a", "A", "0", "earned")], {"code": ""}, "a scheme needs a code"),
    ],
)
def test_a_bad_scheme_shows_the_error_and_stores_nothing(
    seeded: Console, rows: list[tuple[str, str, str, str]], fields: dict[str, str], message: str
) -> None:
    client = seeded.clients["operator"]
    before = counts(seeded.engine)
    code = fields.pop("code", f"bad-{uuid.uuid4().hex[:6]}")
    form = {**scheme_form(code, rows, **fields), "csrf_token": token(client)}
    response = client.post("/membership/schemes", data=form)
    assert response.status_code == 400
    editor = response.text.split('id="scheme-editor"')[1]
    assert 'id="scheme-error"' in editor.split('id="scheme-form"')[0]  # next to the form
    assert message in editor, editor[:600]
    assert counts(seeded.engine) == before
    if rows:
        assert f'value="{rows[0][0]}"' in editor  # the form keeps what was typed
    # the same on the editor of an existing scheme
    response = client.post("/membership/schemes/club", data={**form, "code": "club"})
    assert response.status_code == 400 and counts(seeded.engine) == before


def test_benefits_are_granted_and_removed_from_the_scheme_page(seeded: Console) -> None:
    client = seeded.clients["operator"]
    form = {
        "benefit_code": "bday",
        "benefit_name": "生日礼",
        "kind": "birthday_gift",
        "csrf_token": token(client),
    }
    page = client.post("/membership/schemes/club/catalogue", data=form)
    assert page.status_code == 200 and "Benefit bday was added to the catalogue." in page.text
    form = {
        "level": "gold",
        "benefit": "bday",
        "value": "5000",
        "quota": "1",
        "period": "year",
        "csrf_token": token(client),
    }
    page = client.post("/membership/schemes/club/benefits", data=form)
    assert "Benefit bday was granted." in page.text and "1 per year" in page.text
    gold = next(r for r in benefits.catalogue(seeded.engine, scheme="club") if r["level"] == "gold")
    assert {b["code"]: (b["value"], b["quota"], b["period"]) for b in gold["benefits"]} == {
        "bday": (5000, 1, "year"),
        "ship": (0, 2, "month"),
    }
    before = counts(seeded.engine)
    bad = {**form, "quota": "2", "period": "", "csrf_token": token(client)}
    refused = client.post("/membership/schemes/club/benefits", data=bad)
    assert refused.status_code == 400 and 'id="benefit-error"' in refused.text
    assert "a quota needs a period" in refused.text and counts(seeded.engine) == before
    form = {"level": "gold", "benefit": "bday", "csrf_token": token(client)}
    client.post("/membership/schemes/club/benefits/revoke", data=form)
    gold = next(r for r in benefits.catalogue(seeded.engine, scheme="club") if r["level"] == "gold")
    assert [b["code"] for b in gold["benefits"]] == ["ship"]
    actions = audit_actions(seeded.engine, "operator")
    for action in ("benefits.create", "benefits.grant", "benefits.revoke"):
        assert any(a == action for a, _ in actions), action


# Rules ----------------------------------------------------------------------------------------


def rule_form(code: str, **fields: str) -> dict[str, str]:
    form = {
        "code": code,
        "name": "Invite friends",
        "event": "invite",
        "filters": "method in invite_link,qrcode\ninvitee?",
        "points_mode": "fixed",
        "points_value": "20",
        "growth_mode": "fixed",
        "growth_value": "5",
        "unit_cents": "100",
        "multiplier_scheme": "club",
        "cap_period": "week",
        "points_cap_day": "100",
        "points_cap_period": "",
        "points_cap_lifetime": "1,000",
        "growth_cap_day": "",
        "growth_cap_period": "",
        "growth_cap_lifetime": "",
        "maturity_days": "7",
        "expiry": "days:365",
        "reference_property": "",
        "starts_at": "2026-01-01T00:00",
        "ends_at": "",
    }
    form.update(fields)
    return form


def test_an_operator_creates_edits_and_pauses_a_rule(seeded: Console) -> None:
    client = seeded.clients["operator"]
    form = {**rule_form("invite"), "csrf_token": token(client)}
    response = client.post("/membership/rules", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[:1000]
    listing = client.get("/membership/rules").text
    assert "Rule invite was created" in listing and 'id="rule-invite"' in listing
    created = next(r for r in rules.list_rules(seeded.engine) if r.rule.code == "invite")
    doc = created.as_json()
    assert doc["event"] == "invite" and doc["multiplier_scheme"] == "club"
    assert doc["filters"] == [
        {"property": "method", "op": "in", "value": ["invite_link", "qrcode"]},
        {"property": "invitee", "op": "exists", "value": None},
    ]
    assert doc["points"] == {"mode": "fixed", "value": 20, "unit_cents": 100}
    assert doc["points_caps"] == {"day": 100, "period": None, "lifetime": 1000}
    assert doc["maturity_days"] == 7 and doc["expiry"] == "days:365"
    assert datetime.fromisoformat(doc["starts_at"]) == datetime(2026, 1, 1, tzinfo=SH)
    assert doc["reference_property"] == "order_id"  # left empty: the default
    assert ("rules.create", "invite") in audit_actions(seeded.engine, "operator")

    # the editor shows the rule as it was saved, and saves a change
    editor = client.get("/membership/rules/invite").text
    assert "method in invite_link,qrcode\ninvitee?</textarea>" in editor
    assert 'value="2026-01-01T00:00"' in editor and 'value="1000"' in editor
    form = {
        **rule_form("invite", points_mode="per_amount", points_value="2", unit_cents="1000"),
        "growth_mode": "none",
        "growth_value": "",
        "filters": '{"property": "tags", "op": "contains", "value": "vip"}',
        "csrf_token": token(client),
    }
    response = client.post("/membership/rules/invite", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[:1000]
    doc = next(r for r in rules.list_rules(seeded.engine) if r.rule.code == "invite").as_json()
    assert doc["points"] == {"mode": "per_amount", "value": 2, "unit_cents": 1000}
    assert doc["growth"]["mode"] == "none"
    assert doc["filters"] == [{"property": "tags", "op": "contains", "value": "vip"}]
    assert ("rules.update", "invite") in audit_actions(seeded.engine, "operator")
    assert '{"property":"tags","op":"contains","value":"vip"}' in html.unescape(
        client.get("/membership/rules/invite").text
    )  # no text form for contains: shown as JSON, read back the same

    # pause in place (htmx gets the row), then resume with a plain post
    row = client.post(
        "/membership/rules/invite/active",
        data={"active": "0", "csrf_token": token(client)},
        headers={"HX-Request": "true"},
    )
    assert row.status_code == 200 and row.text.lstrip().startswith('<tr id="rule-invite"')
    assert "paused" in row.text and "Resume</button>" in row.text
    page = client.post(
        "/membership/rules/invite/active", data={"active": "1", "csrf_token": token(client)}
    )
    assert "Rule invite is active again." in page.text
    actions = audit_actions(seeded.engine, "operator")
    assert ("rules.pause", "invite") in actions and ("rules.activate", "invite") in actions


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"points_value": "-5"}, "the points amount must be 1 or more, not -5"),
        ({"points_value": "lots"}, "the points amount must be a whole number, not &#39;lots&#39;"),
        ({"points_value": ""}, "the points amount is required"),
        ({"filters": "=books"}, "is not PROPERTY OP VALUE"),
        ({"filters": "no operator here"}, "is not PROPERTY OP VALUE"),
        ({"filters": "{not json"}, "is not valid JSON"),
        ({"event": ""}, "an event name"),
        ({"expiry": "soon"}, "expiry &#39;soon&#39; is not one of never"),
        ({"points_cap_day": "-1"}, "the daily points cap must be 0 or more"),
        ({"maturity_days": "-2"}, "maturity must be 0 or more"),
        ({"points_mode": "none", "growth_mode": "none"}, "gives neither points nor growth value"),
        ({"multiplier_scheme": "nope"}, "no level scheme &#39;nope&#39;"),
        ({"ends_at": "2025-12-31T00:00"}, "a rule must end after it starts"),
        ({"starts_at": "tomorrow"}, "the start must be a date and time"),
        ({"code": "buy"}, "a rule with code &#39;buy&#39; already exists"),
    ],
)
def test_a_bad_rule_shows_the_error_and_stores_nothing(
    seeded: Console, fields: dict[str, str], message: str
) -> None:
    client = seeded.clients["operator"]
    before = counts(seeded.engine)
    code = fields.pop("code", f"bad-{uuid.uuid4().hex[:6]}")
    form = {**rule_form(code, **fields), "csrf_token": token(client)}
    response = client.post("/membership/rules", data=form)
    assert response.status_code == 400
    editor = response.text.split('id="rule-editor"')[1]
    assert 'id="rule-error"' in editor.split('id="rule-form"')[0]
    assert message in editor, editor[:600]
    assert counts(seeded.engine) == before
    assert f'value="{code}"' in editor  # the form keeps what was typed
    if code != "buy":
        response = client.post("/membership/rules/buy", data={**form, "code": "buy"})
        assert response.status_code == 400 and message.replace(code, "buy") in response.text
        assert counts(seeded.engine) == before
        assert (
            next(r for r in rules.list_rules(seeded.engine) if r.rule.code == "buy").as_json()[
                "event"
            ]
            == "purchase"
        )


# Member actions -------------------------------------------------------------------------------


def _keys(panel: str) -> dict[str, str]:
    found = re.findall(r'id="(\w+)-form".*?name="key" value="([^"]+)"', panel, re.S)
    return dict(found)


def test_an_operator_awards_redeems_and_adjusts(seeded: Console) -> None:
    client = seeded.clients["operator"]
    htmx = {"HX-Request": "true"}
    panel = client.get("/membership/members/u3/panel").text
    assert "has nothing in the growth system yet" in panel
    keys = _keys(panel)
    assert set(keys) == {"award", "redeem", "adjust"} and len(set(keys.values())) == 3
    form = {"amount": "120", "reason": "compensation", "expiry": "never", "key": keys["award"]}
    reply = client.post(
        "/membership/members/u3/award", data={**form, "csrf_token": token(client)}, headers=htmx
    )
    assert reply.status_code == 200 and 'id="member-available" data-value="120"' in reply.text
    assert "120 points awarded; 120 available now." in reply.text
    # the same form sent again (same key) moves nothing
    again = client.post(
        "/membership/members/u3/award", data={**form, "csrf_token": token(client)}, headers=htmx
    )
    assert "This form was already sent" in again.text
    assert points.balance(seeded.engine, user_id="u3").available == 120
    assert _keys(again.text)["award"] not in (keys["award"],)  # a fresh form, a fresh key

    keys = _keys(again.text)
    reply = client.post(
        "/membership/members/u3/redeem",
        data={
            "amount": "20",
            "reference": "order-7",
            "key": keys["redeem"],
            "csrf_token": token(client),
        },
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/membership/members/u3"
    assert "20 points redeemed; 100 available now." in client.get("/membership/members/u3").text
    reply = client.post(
        "/membership/members/u3/adjust",
        data={
            "amount": "-10",
            "reason": "typo",
            "key": keys["adjust"],
            "csrf_token": token(client),
        },
        headers=htmx,
    )
    assert 'data-value="90"' in reply.text
    entries = points.statement(seeded.engine, user_id="u3")
    assert [(e.kind, e.amount, e.actor) for e in entries] == [
        ("adjust", -10, "operator"),
        ("spend", -20, "operator"),
        ("earn", 120, "operator"),
    ]
    actions = [a for a in audit_actions(seeded.engine, "operator") if a[1] == "u3"]
    assert sorted(actions) == [
        ("points.adjust", "u3"),
        ("points.award", "u3"),
        ("points.redeem", "u3"),
    ]  # one line per change, none for the replay


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("award", {"amount": "-50"}, "amount must be between 1 and"),
        ("award", {"amount": "0"}, "amount must be between 1 and"),
        ("award", {"amount": "1.5"}, "the points must be a whole number"),
        ("award", {"amount": "10", "expiry": "weekly"}, "expiry &#39;weekly&#39;"),
        ("award", {"amount": "10", "key": ""}, "an idempotency key is required"),
        ("redeem", {"amount": "999999"}, "available"),
        ("adjust", {"amount": "5", "reason": ""}, "an adjustment needs a reason"),
        ("adjust", {"amount": "0", "reason": "x"}, "an adjustment of 0 points changes nothing"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_a_bad_points_action_shows_the_error_and_stores_nothing(
    seeded: Console, action: str, fields: dict[str, str], message: str, htmx: bool
) -> None:
    client = seeded.clients["operator"]
    before = counts(seeded.engine)
    form = {"key": f"k-{uuid.uuid4().hex}", "reason": "r", **fields, "csrf_token": token(client)}
    reply = client.post(
        f"/membership/members/u1/{action}",
        data=form,
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert reply.status_code == (200 if htmx else 400)  # htmx swaps 2xx replies only
    box = reply.text.split(f'id="{action}-form"')[1].split("</form>")[0]
    assert 'class="error"' in box and message in box, box[:800]
    assert f'value="{fields["amount"]}"' in box  # the form keeps what was typed
    assert counts(seeded.engine) == before
    assert points.balance(seeded.engine, user_id="u1").available == 520


# Roles ----------------------------------------------------------------------------------------

WHO = ("anonymous", "viewer", "analyst", "operator", "admin")
# method, route path, request path, expected codes for WHO, form
ROUTES: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
    ("GET", "/membership", "/membership", "303 200 200 200 200", None),
    ("GET", "/membership/schemes", "/membership/schemes", "303 200 200 200 200", None),
    ("GET", "/membership/schemes/new", "/membership/schemes/new", "303 403 403 200 200", None),
    ("GET", "/membership/schemes/{code}", "/membership/schemes/club", "303 200 200 200 200", None),
    ("POST", "/membership/schemes", "/membership/schemes", "303 403 403 303 303", "scheme"),
    (
        "POST",
        "/membership/schemes/{code}",
        "/membership/schemes/club",
        "303 403 403 303 303",
        "edit",
    ),
    (
        "POST",
        "/membership/schemes/{code}/benefits",
        "/membership/schemes/club/benefits",
        "303 403 403 303 303",
        {"level": "silver", "benefit": "ship"},
    ),
    (
        "POST",
        "/membership/schemes/{code}/benefits/revoke",
        "/membership/schemes/club/benefits/revoke",
        "303 403 403 303 303",
        {"level": "silver", "benefit": "ship"},
    ),
    (
        "POST",
        "/membership/schemes/{code}/catalogue",
        "/membership/schemes/club/catalogue",
        "303 403 403 303 303",
        "benefit",
    ),
    ("GET", "/membership/rules", "/membership/rules", "303 200 200 200 200", None),
    ("GET", "/membership/rules/new", "/membership/rules/new", "303 403 403 200 200", None),
    ("GET", "/membership/rules/{code}", "/membership/rules/buy", "303 200 200 200 200", None),
    ("POST", "/membership/rules", "/membership/rules", "303 403 403 303 303", "rule"),
    (
        "POST",
        "/membership/rules/{code}",
        "/membership/rules/buy",
        "303 403 403 303 303",
        "rule-edit",
    ),
    (
        "POST",
        "/membership/rules/{code}/active",
        "/membership/rules/buy/active",
        "303 403 403 303 303",
        {"active": "1"},
    ),
    ("GET", "/membership/honours", "/membership/honours", "303 200 200 200 200", None),
    ("GET", "/membership/boards/{code}", "/membership/boards/top", "303 200 200 200 200", None),
    (
        "POST",
        "/membership/boards/{code}/compute",
        "/membership/boards/top/compute",
        "303 403 403 303 303",
        {},
    ),
    ("GET", "/membership/members", "/membership/members", "303 200 200 200 200", None),
    (
        "GET",
        "/membership/members/{user_id:path}",
        "/membership/members/u1",
        "303 200 200 200 200",
        None,
    ),
    (
        "GET",
        "/membership/members/{user_id:path}/panel",
        "/membership/members/u1/panel",
        "303 200 200 200 200",
        None,
    ),
    (
        "POST",
        "/membership/members/{user_id:path}/award",
        "/membership/members/u9/award",
        "303 403 403 303 303",
        "award",
    ),
    (
        "POST",
        "/membership/members/{user_id:path}/redeem",
        "/membership/members/u9/redeem",
        "303 403 403 303 303",
        "redeem",
    ),
    (
        "POST",
        "/membership/members/{user_id:path}/adjust",
        "/membership/members/u9/adjust",
        "303 403 403 303 303",
        "adjust",
    ),
]


def test_every_membership_route_is_in_the_table() -> None:
    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                yield from walk(route.original_router.routes)

    registered = {
        (method, route.path)
        for route in walk(list(web_membership.router.routes))
        for method in route.methods - {"HEAD"}
    }
    assert len(registered) > 20
    assert registered == {(method, path) for method, path, *_ in ROUTES}


def _form(kind: dict[str, Any] | str | None) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:6]
    if isinstance(kind, dict):
        return dict(kind)
    return {
        "scheme": scheme_form(f"s-{unique}", [("one", "One", "0", "earned")]),
        "edit": scheme_form(
            "club",
            [("silver", "Silver", "0", "earned"), ("gold", "Gold", "400", "earned")],
            name="Club",
        ),
        "benefit": {"benefit_code": f"b-{unique}", "kind": "free_shipping"},
        "rule": rule_form(f"r-{unique}"),
        "rule-edit": {
            **rule_form("buy"),
            "event": "purchase",
            "filters": "",
            "multiplier_scheme": "",
        },
        "award": {"amount": "1", "key": f"k-{unique}"},
        "redeem": {"amount": "1", "key": f"k-{unique}"},
        "adjust": {"amount": "1", "key": f"k-{unique}", "reason": "role table"},
    }.get(str(kind), {})


@pytest.fixture(scope="module")
def table_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("membership-roles") / "data") as running:
        seed(running.engine)
        points.award(running.engine, user_id="u9", amount=100, key="u9-start")
        yield running


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "_route", "path", "codes", "form"), ROUTES)
def test_who_may_do_what(
    table_console: Console,
    who: str,
    method: str,
    _route: str,
    path: str,
    codes: str,
    form: dict[str, Any] | str | None,
) -> None:
    client = table_console.client(who)
    expected = int(codes.split()[WHO.index(who)])
    if path.endswith("/benefits/revoke"):  # something to remove, whoever went first
        benefits.grant_benefit(table_console.engine, scheme="club", level="silver", benefit="ship")
    before = counts(table_console.engine)
    data = _form(form) if method == "POST" else {}
    if method == "POST":
        data["csrf_token"] = csrf_token(client, "/login" if who == "anonymous" else "/logout")
    response = client.request(method, path, data=data or None, follow_redirects=False)
    assert response.status_code == expected, (who, method, path, response.text[:500])
    if method == "POST" and expected in (303, 403) and who in ("viewer", "analyst", "anonymous"):
        assert counts(table_console.engine) == before  # refused: nothing stored, not even audit


def test_a_post_without_the_csrf_token_is_refused(seeded: Console) -> None:
    client = seeded.clients["operator"]
    before = counts(seeded.engine)
    response = client.post("/membership/members/u1/award", data={"amount": "5", "key": "no-token"})
    assert response.status_code == 403 and counts(seeded.engine) == before


# Messages -------------------------------------------------------------------------------------


def test_every_key_the_membership_pages_use_is_translated() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", template.read_text()))
    from userops.domain.membership.badges import BADGE_KINDS
    from userops.domain.membership.benefits import BENEFIT_KINDS, QUOTA_PERIODS
    from userops.domain.membership.incentives import AMOUNT_MODES, CAP_PERIODS
    from userops.domain.membership.leaderboards import BOARD_METRICS
    from userops.domain.membership.levels import CHANGE_KINDS, POLICIES
    from userops.domain.membership.points import ENTRY_KINDS

    families = {
        "membership.tab": ("economy", "schemes", "rules", "honours", "members"),
        "membership.flow": (
            "issued",
            "redeemed",
            "expired",
            "reversed",
            "outstanding",
            "pending",
            "redemption_rate",
            "breakage",
        ),
        "membership.help": (
            "issued",
            "redeemed",
            "expired",
            "reversed",
            "outstanding",
            "pending",
            "redemption_rate",
            "breakage",
        ),
        "membership.policy": POLICIES,
        "membership.benefit_kind": BENEFIT_KINDS,
        "membership.period": (*QUOTA_PERIODS, *CAP_PERIODS),
        "membership.mode": AMOUNT_MODES,
        "membership.badge_kind": BADGE_KINDS,
        "membership.board_metric": BOARD_METRICS,
        "membership.step": CHANGE_KINDS,
        "membership.kind": ENTRY_KINDS,
        "membership.lot": ("available", "pending", "expired", "used", "reversed"),
        "membership.member.action": ("award", "redeem", "adjust"),
        "membership.member.submit": ("award", "redeem", "adjust"),
        "membership.rule.cap.points": ("day", "period", "lifetime"),
        "membership.rule.cap.growth": ("day", "period", "lifetime"),
    }
    for prefix, names in families.items():
        used |= {f"{prefix}.{name}" for name in names}
    used |= {f"membership.member.amount_{a}" for a in ("award", "redeem", "adjust")}
    used |= {f"membership.member.{a}_done" for a in ("award", "redeem", "adjust")}
    source = "\n".join(
        p.read_text()
        for p in (Path(__file__).parents[2] / "src/userops/web/membership").glob("*.py")
    )
    used |= set(re.findall(r'"(membership\.[\w.]+)"', source))
    assert used - set(EN) == set() and used - set(ZH_CN) == set()


def test_an_economy_period_past_the_reports_limits_is_shown_as_the_pages_error(
    seeded: Console,
) -> None:
    """The report refuses days past 2200 and periods of over 20 years; the page shows why, over
    its default period, instead of failing."""
    client = seeded.clients["viewer"]
    for start, end, reason in [
        ("2000-01-01", "2199-12-31", "covers more than 240 months; ask for a shorter range"),
        ("2026-01-01", "9999-12-31", "last day (to) 9999-12-31 is out of range"),
    ]:
        page = client.get("/membership", params={"start": start, "end": end})
        assert page.status_code == 400, (start, end)
        assert reason in html.unescape(page.text) and 'id="economy-cards"' in page.text
