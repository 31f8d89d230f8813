"""The profiles console in a real browser (Debian's chromium, Playwright).

A real server (the shared `server` fixture: uvicorn over a small demo data set). The admin
signs in, refreshes the tags from the Tags tab (the run's status follows by htmx until it
succeeds), opens the RFM dashboard (its chart drawn on a canvas), builds a segment in the
builder with two conditions, sees the live count change when a condition changes, saves the
segment, clicks a user of its members and lands on their 360 with their tags. Screenshots go
to test-artifacts/profiles-*.png (and, with USEROPS_DOCS_SCREENSHOT=1, the builder to
docs/images/).
"""

from __future__ import annotations

import pytest

from tests.web.support import (
    ADMIN,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCS_SCREENSHOT,
    REPO,
    Server,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMAGE = REPO / "docs" / "images" / "profiles-segment-builder.png"
CHART_DRAWN = """() => {
  const nodes = Array.from(document.querySelectorAll('[data-profiles-chart]'));
  return nodes.length > 0 && typeof echarts !== 'undefined'
    && document.documentElement.getAttribute('data-profiles-charts') === String(nodes.length)
    && nodes.every((el) => echarts.getInstanceByDom(el) && el.querySelector('canvas')
      && el.querySelector('canvas').width > 0);
}"""
SETTLED = "() => document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping') === null"
COUNT_CHANGED = """(before) => {
  const el = document.getElementById('preview-count');
  return el !== null && el.dataset.value !== before;
}"""


def test_profiles_console_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
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

            # the Tags tab: refresh now, the run's status follows until it ends
            page.click('.sidebar a[href="/profiles"]')
            page.wait_for_url(f"{url}/profiles")
            page.click("#refresh-now")
            expect(page.locator("#refresh-run")).to_have_attribute(
                "data-status", "succeeded", timeout=180_000
            )
            page.reload()
            expect(page.locator("#tag-rfm_group td.num")).not_to_have_text("–")
            page.screenshot(path=ARTIFACTS / "profiles-tags.png", full_page=True)

            # the RFM dashboard: the chart is drawn, the groups have buyers
            page.click('nav.tabs a[data-tab="rfm"]')
            page.wait_for_url(f"{url}/profiles/rfm")
            page.wait_for_function(CHART_DRAWN, timeout=20_000)
            buyers = int(
                page.locator('#rfm-cards [data-field="buyers"] .value').get_attribute("data-value")
                or "0"
            )
            assert buyers > 0
            expect(
                page.locator('#rfm-groups tr[data-group="important_winback"] td.action')
            ).to_contain_text("strong coupon")
            page.screenshot(path=ARTIFACTS / "profiles-rfm.png", full_page=True)

            # the builder: channel is set, and did purchase; the count shows
            page.click('nav.tabs a[data-tab="segments"]')
            page.click("#new-segment")
            page.wait_for_url(f"{url}/profiles/segments/new")
            page.evaluate("window.sameDocument = true")
            expect(page.locator("#preview-waiting")).to_be_visible()

            def settled() -> None:  # the builder drawn again after a select changed
                page.wait_for_function(SETTLED, timeout=20_000)

            page.select_option('select[name="field.r.0"]', "channel")
            settled()
            expect(page.locator('select[name="op.r.0"]')).to_have_value("=")
            page.select_option('select[name="op.r.0"]', "is_set")
            settled()
            expect(page.locator('input[name="value.r.0"]')).to_have_count(0)  # is set: no value
            expect(page.locator("#preview-count")).to_be_visible()
            page.click("#group-r > .group-add .add-condition")
            expect(page.locator('[data-path="r.1"]')).to_be_visible()
            settled()  # a change made while the new row is still being swapped in is lost
            page.select_option('select[name="kind.r.1"]', "event")
            settled()
            page.fill('input[name="field.r.1"]', "purchase")
            expect(page.locator("#rule-json")).to_contain_text('"purchase"')
            first = page.locator("#preview-count").get_attribute("data-value") or ""
            assert int(first) > 0

            # changing a condition changes the count, live (no reload)
            page.select_option('select[name="op.r.1"]', ">=")
            settled()
            page.fill('input[name="value.r.1"]', "3")
            page.wait_for_function(COUNT_CHANGED, arg=first, timeout=20_000)
            second = int(page.locator("#preview-count").get_attribute("data-value") or "0")
            assert 0 < second < int(first)
            expect(page.locator("#rule-json")).to_contain_text('"value": 3')
            assert page.evaluate("window.sameDocument === true")
            page.screenshot(path=ARTIFACTS / "profiles-builder.png", full_page=True)
            if DOCS_SCREENSHOT:
                DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
                page.locator("#rule-panel").screenshot(path=DOCS_IMAGE)

            # a bad value is named with its row; then save
            page.fill('input[name="value.r.1"]', "lots")
            expect(page.locator("#preview-error")).to_contain_text("Row 2:")
            expect(page.locator('[data-path="r.1"]')).to_have_class("rule-row has-error")
            page.fill('input[name="value.r.1"]', "3")
            expect(page.locator("#preview-count")).to_have_attribute("data-value", str(second))
            page.fill('#save-panel input[name="code"]', "pw_repeat_buyers")
            page.fill('#save-panel input[name="name"]', "多次购买用户")
            page.click("#save-segment")
            page.wait_for_url(f"{url}/profiles/segments/pw_repeat_buyers")
            expect(page.locator(".flash")).to_contain_text(f"saved with {second:,} users")
            expect(page.locator("#segment-size")).to_have_attribute("data-value", str(second))
            page.screenshot(path=ARTIFACTS / "profiles-segment.png", full_page=True)

            # a member of its sample: their 360, with their tags
            member = page.locator("#member-sample a").first
            user_id = member.inner_text()
            member.click()
            page.wait_for_url(f"{url}/profiles/users/{user_id}")
            expect(page.locator("#user-title")).to_contain_text(user_id)
            expect(page.locator("#user-tags .tag-chip").first).to_be_visible()
            expect(page.locator('#user-tags [data-tag="lifecycle_stage"]')).to_be_visible()
            expect(page.locator('#user-tags [data-tag="rfm_group"]')).to_be_visible()
            expect(page.locator("#member-panel")).to_be_visible()  # the membership fragment
            expect(page.locator("#timeline-events tbody tr").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "profiles-user360.png", full_page=True)
            assert errors == [], errors
        finally:
            browser.close()
    assert outside == [], f"the console asked other hosts: {outside}"
