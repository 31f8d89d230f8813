"""The console in a real browser: Debian's chromium driven by Playwright (Python, sync API).

A real server (uvicorn in a subprocess, on a free port) over a temporary data folder holding a
small demo data set (300 users x 40 days); an admin and a viewer created with the CLI. The test
signs in, waits for the five ECharts trend charts to draw on their canvases, switches to
Chinese and back, signs out, then signs in as the viewer and is refused the admin page.
Screenshots go to test-artifacts/ (gitignored). With USEROPS_DOCS_SCREENSHOT=1 it also writes
docs/images/console-overview.png (1280x800) from a larger demo data set, for the README.
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
    VIEWER,
    Server,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMAGE = REPO / "docs" / "images" / "console-overview.png"
DEMO_SIZE = (5000, 60) if DOCS_SCREENSHOT else (300, 40)  # users x days of the `server` fixture


CHARTS_DRAWN = """() => {
  const nodes = Array.from(document.querySelectorAll('[data-chart]'));
  return nodes.length === 5 && typeof echarts !== 'undefined' && nodes.every(
    (el) => echarts.getInstanceByDom(el) && el.querySelector('canvas')
      && el.querySelector('canvas').width > 0);
}"""


def test_console_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
            page = context.new_page()
            page.on(
                "request",
                lambda request: (
                    outside.append(request.url)
                    if not request.url.startswith((server.url, "data:"))
                    else None
                ),
            )
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # sign in as the admin, see the overview's five charts drawn
            sign_in(page, server.url, *ADMIN)
            page.wait_for_url(f"{server.url}/")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            expect(page.locator("h1")).to_have_text("Overview")
            expect(page.locator('[data-metric="active_users"] h2')).to_have_text(
                "Daily active users"
            )
            page.screenshot(path=ARTIFACTS / "console-overview-en.png", full_page=True)
            if DOCS_SCREENSHOT:
                DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=DOCS_IMAGE)

            # switch to Chinese: the labels change, the charts are drawn again
            page.click('a[data-lang="zh-CN"]')
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            expect(page.locator("h1")).to_have_text("概览")
            expect(page.locator('[data-metric="active_users"] h2')).to_have_text("日活跃用户")
            expect(page.locator(".sidebar .coming").first).to_contain_text("即将推出")
            page.screenshot(path=ARTIFACTS / "console-overview-zh-CN.png", full_page=True)
            page.click('a[data-lang="en"]')
            expect(page.locator("h1")).to_have_text("Overview")

            # the admin pages open for the admin
            page.click('a[href="/admin/operators"]')
            expect(page.locator("#operators")).to_contain_text(VIEWER[0])
            # a role change through htmx: the row is swapped in place (CSRF header from hx-headers)
            page.evaluate("window.sameDocument = true")
            row = page.locator(f"tr#op-{VIEWER[0]}")
            # count htmx's settled swaps, so the row is touched again only once it was replaced
            page.evaluate(
                "window.swaps = 0; "
                "document.body.addEventListener('htmx:afterSettle', () => window.swaps++)"
            )
            row.locator('select[name="role"]').select_option("analyst")
            row.locator('button:has-text("Save")').click()
            page.wait_for_function("() => window.swaps >= 1")
            expect(page.locator(f"tr#op-{VIEWER[0]} select[name='role']")).to_have_value("analyst")
            page.locator(f"tr#op-{VIEWER[0]} select[name='role']").select_option("viewer")
            page.locator(f"tr#op-{VIEWER[0]} button:has-text('Save')").click()
            page.wait_for_function("() => window.swaps >= 2")
            expect(page.locator(f"tr#op-{VIEWER[0]} select[name='role']")).to_have_value("viewer")
            assert page.evaluate("window.sameDocument === true")  # no page load: htmx swapped it
            page.screenshot(path=ARTIFACTS / "console-admin-operators.png", full_page=True)
            # a write key: shown once, revoked after a confirmation
            page.click('a[href="/admin/keys"]')
            page.fill('#create-key input[name="name"]', "shop backend")
            page.click('#create-key button[type="submit"]')
            expect(page.locator("#new-key-secret")).to_contain_text("uo_wk_")
            page.screenshot(path=ARTIFACTS / "console-admin-keys.png", full_page=True)
            page.once("dialog", lambda dialog: dialog.dismiss())
            page.click('#keys button:has-text("Revoke")')
            expect(page.locator("#keys .status-active")).to_have_count(1)  # cancelled: kept
            page.once("dialog", lambda dialog: dialog.accept())
            page.click('#keys button:has-text("Revoke")')
            expect(page.locator("#keys .status-inactive")).to_have_count(1)
            page.click('a[href="/admin/audit"]')
            expect(page.locator("#audit")).to_contain_text("operators.set_role")
            expect(page.locator("#audit")).to_contain_text("keys.revoke")
            page.screenshot(path=ARTIFACTS / "console-admin-audit.png", full_page=True)

            # sign out: back to the login page, and the overview asks to sign in again
            page.click("#logout")
            page.wait_for_url("**/login?bye=1")
            expect(page.locator(".flash")).to_contain_text("signed out")
            page.screenshot(path=ARTIFACTS / "console-logged-out.png")
            page.goto(f"{server.url}/")
            page.wait_for_url("**/login*")

            # a viewer is refused the admin page
            sign_in(page, server.url, *VIEWER)
            page.wait_for_url(f"{server.url}/")
            expect(page.locator('a[href="/admin/operators"]')).to_have_count(0)
            response = page.goto(f"{server.url}/admin/operators")
            assert response is not None and response.status == 403
            expect(page.locator(".error-page")).to_contain_text("Not allowed")
            page.screenshot(path=ARTIFACTS / "console-viewer-refused.png")
            assert errors == [], errors
        finally:
            browser.close()
    assert outside == [], f"the console asked other hosts: {outside}"
