"""The membership console in a real browser (Debian's chromium, Playwright).

A real server (the shared `server` fixture: uvicorn over a small demo data set) whose
application database gets a growth system while it runs (written by the services through
SQLite, as a second process would): a level scheme, an incentive rule applied to purchases of
the last months, awards and redemptions, levels evaluated day by day. The admin signs in, opens
the economy dashboard (its four charts drawn on canvases), is refused a bad rule and then
creates one through the form, and awards points to a member from the member's page (htmx swaps
the panel: the balance changes in place). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.support import ADMIN, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Server, sign_in
from userops.domain.membership.incentives import AwardFormula, Caps
from userops.membership import benefits, levels, points, rules
from userops.membership.levels import LevelSpec
from userops.settings import Settings
from userops.store.db import make_engine, session_scope

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SH = ZoneInfo("Asia/Shanghai")

MEMBERSHIP_CHARTS = """() => {
  const nodes = Array.from(document.querySelectorAll('[data-mchart]'));
  return nodes.length === 4 && typeof echarts !== 'undefined'
    && document.documentElement.getAttribute('data-membership-charts') === '4'
    && nodes.every((el) => echarts.getInstanceByDom(el) && el.querySelector('canvas')
      && el.querySelector('canvas').width > 0);
}"""


def _purchases(now: datetime) -> list[dict[str, Any]]:
    """Purchases by 30 users over the last 120 days (deterministic)."""
    events = []
    for n in range(120):
        user = f"m{n % 30:02d}"
        events.append(
            {
                "message_id": f"buy-{n}",
                "user_id": user,
                "event": "purchase",
                "timestamp": now - timedelta(days=119 - n, hours=n % 7),
                "revenue": str(80 + (n * 37) % 900),
                "properties": {"order_id": f"o{n}"},
            }
        )
    return events


@pytest.fixture(scope="module")
def member_server(server: Server) -> Server:
    """The running server's database, given a growth system by the services."""
    engine = make_engine(Settings(data_dir=server.data_dir).resolved_database_url)
    try:
        levels.create_scheme(
            engine,
            code="club",
            name="会员俱乐部",
            levels=[
                LevelSpec("silver", "白银", 0),
                LevelSpec("gold", "黄金", 1500),
                LevelSpec("platinum", "铂金", 4000),
            ],
            policy="up_down",
            window_months=12,
            keep_days=30,
            notice_days=7,
        )
        benefits.create_benefit(engine, code="ship", name="包邮", kind="free_shipping")
        benefits.grant_benefit(
            engine, scheme="club", level="gold", benefit="ship", quota=2, period="month"
        )
        rules.create_rule(
            engine,
            code="buy",
            name="消费得积分",
            event="purchase",
            points=AwardFormula("per_amount", 1),
            growth=AwardFormula("per_amount", 1),
            points_caps=Caps(day=800),
            expiry="month_end:1",
        )
        now = datetime.now(UTC)
        for n, event in enumerate(_purchases(now)):  # as time went by
            with session_scope(engine) as session:
                rules.apply_rules_to_events(session, [event], tz=SH, now=event["timestamp"])
            if n % 3 == 0:  # a third of the buyers spend 50 points the next day
                points.redeem(
                    engine,
                    user_id=event["user_id"],
                    amount=50,
                    key=f"spend-{event['message_id']}",
                    at=event["timestamp"] + timedelta(days=1),
                )
        points.expire(engine, at=now)
        today = now.astimezone(SH).date()
        for back in range(120, -1, -10):
            levels.evaluate(engine, on=today - timedelta(days=back), tz=SH)
    finally:
        engine.dispose()
    return server


def test_membership_console_in_chromium(member_server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = member_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
            page = context.new_page()
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith((url, "data:")) else None,
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            sign_in(page, url, *ADMIN)
            page.wait_for_url(f"{url}/")

            # the economy dashboard: four charts drawn, the liability shown
            page.click('.sidebar a[href="/membership"]')
            page.wait_for_url(f"{url}/membership")
            page.wait_for_function(MEMBERSHIP_CHARTS, timeout=20_000)
            expect(page.locator('[data-field="issued"] .value')).not_to_have_text("0")
            expect(page.locator("#migration-matrix")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "membership-economy-en.png", full_page=True)
            page.click('a[data-lang="zh-CN"]')
            page.wait_for_function(MEMBERSHIP_CHARTS, timeout=20_000)
            expect(page.locator('[data-field="outstanding"] h2')).to_have_text("未兑付积分（负债）")
            page.screenshot(path=ARTIFACTS / "membership-economy-zh-CN.png", full_page=True)
            page.click('a[data-lang="en"]')
            page.wait_for_function(MEMBERSHIP_CHARTS, timeout=20_000)

            # the scheme editor shows the ladder and its benefits
            page.click('.tabs a[data-tab="schemes"]')
            page.click('#schemes a:has-text("club")')
            expect(page.locator("#level-benefits")).to_contain_text("包邮")
            page.screenshot(path=ARTIFACTS / "membership-scheme.png", full_page=True)

            # an incentive rule through the form: refused first (negative points), then made
            page.click('.tabs a[data-tab="rules"]')
            page.click("#new-rule")
            form = page.locator("#rule-form")
            form.locator('input[name="code"]').fill("share")
            form.locator('input[name="name"]').fill("分享得积分")
            form.locator('input[name="event"]').fill("share")
            form.locator('textarea[name="filters"]').fill("channel in wechat,weibo")
            form.locator('select[name="points_mode"]').select_option("fixed")
            form.locator('input[name="points_value"]').fill("-5")
            form.locator('select[name="growth_mode"]').select_option("fixed")
            form.locator('input[name="growth_value"]').fill("2")
            form.locator('input[name="points_cap_day"]').fill("20")
            form.locator('button[type="submit"]').click()
            expect(page.locator("#rule-error")).to_contain_text("must be 1 or more, not -5")
            page.screenshot(path=ARTIFACTS / "membership-rule-refused.png", full_page=True)
            form = page.locator("#rule-form")
            expect(form.locator('input[name="code"]')).to_have_value("share")  # kept
            form.locator('input[name="points_value"]').fill("5")
            form.locator('button[type="submit"]').click()
            page.wait_for_url(f"{url}/membership/rules")
            expect(page.locator(".flash")).to_contain_text("Rule share was created")
            expect(page.locator("#rule-share")).to_contain_text("5 per event")
            expect(page.locator("#rule-share")).to_contain_text("20/day")
            page.screenshot(path=ARTIFACTS / "membership-rules.png", full_page=True)

            # a member's page: award points, the balance changes in place (htmx)
            page.click('.tabs a[data-tab="members"]')
            page.fill('#find-member input[name="user_id"]', "m01")
            page.click('#find-member button[type="submit"]')
            page.wait_for_url(f"{url}/membership/members/m01")
            available = page.locator("#member-available")
            before = int(available.get_attribute("data-value") or "0")
            assert before > 0
            page.evaluate("window.sameDocument = true")
            award = page.locator("#award-form")
            award.locator('input[name="amount"]').fill("150")
            award.locator('input[name="reason"]').fill("客服补偿")
            award.locator('button[type="submit"]').click()
            expect(page.locator("#member-done")).to_contain_text("150 points awarded")
            expect(available).to_have_attribute("data-value", str(before + 150))
            assert page.evaluate("window.sameDocument === true")  # swapped, not reloaded
            expect(page.locator("#ledger tbody tr").first).to_contain_text("客服补偿")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=ARTIFACTS / "membership-member.png", full_page=True)
            assert errors == [], errors
        finally:
            browser.close()
    assert outside == [], f"the console asked other hosts: {outside}"
    engine = make_engine(Settings(data_dir=member_server.data_dir).resolved_database_url)
    try:
        shared = points.balance(engine, user_id="m01").available
        made = [r.rule.code for r in rules.list_rules(engine)]
    finally:
        engine.dispose()
    assert shared == before + 150 and "share" in made
