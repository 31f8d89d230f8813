"""The Analytics pages in a real browser: Debian's chromium driven by Playwright.

The `server` fixture (tests/web/conftest.py) serves a small demo data set. A viewer signs in,
opens every analytics tab from the navigation and waits for its ECharts charts to be drawn
(a canvas, and series with data), changes a control (htmx swaps the results, the URL follows),
builds a 3-step funnel in the step builder, lists the users who dropped at a step, opens the
early-action preset on the retention page, and switches to Chinese. Screenshots go to
test-artifacts/. With USEROPS_DOCS_SCREENSHOT=1 (and a larger demo) it also writes
docs/images/analytics-retention.png, the retention heatmap of the user guide.
"""

from __future__ import annotations

import re

import pytest

from tests.web.support import (
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

DOCS_IMAGE = REPO / "docs" / "images" / "analytics-retention.png"
DEMO_SIZE = (5000, 60) if DOCS_SCREENSHOT else (400, 40)  # users x days of the `server` fixture
TABS = ("activity", "retention", "funnels", "revenue", "channels", "lifecycle")

CHARTS_DRAWN = """() => {
  const nodes = Array.from(document.querySelectorAll('[data-analytics-chart]'));
  return nodes.length > 0 && typeof echarts !== 'undefined' && nodes.every((el) => {
    const chart = echarts.getInstanceByDom(el);
    const canvas = el.querySelector('canvas');
    if (!chart || !canvas || canvas.width === 0) { return false; }
    const series = chart.getOption().series || [];
    return series.length > 0 && series.some((s) => (s.data || []).length > 0);
  });
}"""


def test_analytics_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            page = context.new_page()
            page.on(
                "request",
                lambda request: (
                    outside.append(request.url)
                    if not request.url.startswith((server.url, "data:"))
                    else None
                ),
            )
            page.on("pageerror", lambda error: errors.append(str(error)))

            # a viewer reads every tab: the navigation leads there, each tab draws its charts
            sign_in(page, server.url, *VIEWER)
            page.wait_for_url(f"{server.url}/")
            page.click('.sidebar a[href="/analytics"]')
            page.wait_for_url("**/analytics/activity")
            for tab in TABS:
                page.click(f'nav.tabs a[data-tab="{tab}"]')
                page.wait_for_url(f"**/analytics/{tab}*")
                expect(page.locator(f'nav.tabs a[data-tab="{tab}"]')).to_have_attribute(
                    "aria-current", "page"
                )
                if tab == "funnels":
                    expect(page.locator("#funnel-hint")).to_be_visible()
                else:
                    page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
                page.screenshot(path=ARTIFACTS / f"analytics-{tab}.png", full_page=True)

            # a control sent through htmx: only the results change, the URL follows
            page.click('nav.tabs a[data-tab="retention"]')
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            page.evaluate("window.sameDocument = true")
            page.select_option('#analytics-form select[name="period"]', "week")
            page.fill('#analytics-form input[name="periods"]', "4")
            page.fill('#where-list input[name="where"] >> nth=0', "gender=female")
            page.click("#analytics-apply")
            page.wait_for_url("**/analytics/retention?*period=week*")
            expect(page.locator("#analytics-caption")).to_contain_text("filters: gender=female")
            expect(page.locator('nav.tabs a[data-tab="activity"]')).to_have_attribute(
                "href", re.compile(r"where=gender%3Dfemale")
            )  # the tabs, outside the results, follow the new controls (out of band)
            expect(page.locator("#heatmap-0 thead th").nth(2)).to_have_text("Week 0")
            expect(page.locator("#heatmap-0 thead th")).to_have_count(2 + 5)
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            assert page.evaluate("window.sameDocument === true")

            # the early-action preset: the heatmap compares the two groups
            page.click('a[data-preset="early-action"]')
            expect(page.locator("#retention-groups tbody tr")).to_have_count(2)
            expect(page.locator("#retention-groups tbody tr").first).to_contain_text(
                "Did add_to_cart or purchase within 7 days"
            )
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            assert (
                page.evaluate(
                    "() => echarts.getInstanceByDom(document.getElementById('chart-curve'))"
                    ".getOption().series.length"
                )
                == 2
            )
            page.screenshot(path=ARTIFACTS / "analytics-retention-early.png", full_page=True)
            if DOCS_SCREENSHOT:
                page.goto(f"{server.url}/analytics/retention?period=week&periods=8&cohort=signup")
                page.click('a[data-range="analytics.range.all"]')  # every week of the data
                page.wait_for_url("**/analytics/retention?*from=*")
                page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
                DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
                page.evaluate("window.scrollTo(0, 0)")  # page coordinates = viewport ones
                box = page.locator("#analytics-results").bounding_box()
                assert box is not None
                clip = {"x": box["x"] - 8, "y": box["y"] - 8}
                clip |= {"width": box["width"] + 16, "height": box["height"] + 16}
                page.screenshot(path=DOCS_IMAGE, full_page=True, clip=clip)  # no sticky bar

            # build a 3-step funnel in the builder
            page.click('nav.tabs a[data-tab="funnels"]')
            page.wait_for_url("**/analytics/funnels*")
            page.evaluate("window.sameDocument = true")
            rows = page.locator("#step-list li")
            expect(rows).to_have_count(2)
            rows.nth(0).locator("select").select_option("app_open")
            rows.nth(1).locator("select").select_option("view_item")
            page.click("#add-step")
            expect(rows).to_have_count(3)
            expect(rows.nth(2).locator("select")).to_have_value("")  # a fresh row
            rows.nth(2).locator("select").select_option("add_to_cart")
            page.fill('#analytics-form input[name="window"]', "1d")
            page.click("#analytics-apply")
            steps = page.locator("#funnel-steps tbody tr")
            expect(steps).to_have_count(3)
            expect(steps.nth(2).locator("th")).to_have_text("3. add_to_cart")
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            assert page.evaluate("window.sameDocument === true")
            assert "step=app_open" in page.url and "step=add_to_cart" in page.url
            first = int(steps.nth(0).locator("td").first.get_attribute("data-value") or "0")
            third = int(steps.nth(2).locator("td").first.get_attribute("data-value") or "0")
            assert first > 0 and 0 < third <= first
            bars = page.evaluate(
                "() => echarts.getInstanceByDom(document.getElementById('chart-funnel'))"
                ".getOption().series[0].data"
            )
            assert len(bars) == 3 and bars[0] == first and bars[2] == third
            page.screenshot(path=ARTIFACTS / "analytics-funnel-built.png", full_page=True)
            # who dropped at step 3: listed with links to their profiles, and a CSV
            page.click('#funnel-steps a[data-dropped="3"]')
            expect(page.locator("#funnel-dropped")).to_be_visible()
            link = page.locator("#funnel-dropped .user-list a").first
            assert (link.get_attribute("href") or "").startswith("/profiles/users/")
            with page.expect_download() as download:
                page.click("#dropped-csv")
            assert download.value.suggested_filename == "funnel-dropped-step-3.csv"
            assert page.evaluate("window.sameDocument === true")

            # Chinese: the labels change, the charts are drawn again
            page.click('nav.tabs a[data-tab="lifecycle"]')
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            page.click('a[data-lang="zh-CN"]')
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.locator("h1")).to_have_text("数据分析")
            expect(page.locator('nav.tabs a[data-tab="lifecycle"]')).to_have_text("生命周期")
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            legend = page.evaluate(
                "() => echarts.getInstanceByDom(document.getElementById('chart-lifecycle'))"
                ".getOption().series.map((s) => s.name)"
            )
            assert legend == ["新增", "回访", "回流", "沉默"]
            page.screenshot(path=ARTIFACTS / "analytics-lifecycle-zh-CN.png", full_page=True)
            page.click('nav.tabs a[data-tab="channels"]')
            page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
            expect(page.locator("#channels-best")).to_contain_text("最佳")
            page.click('a[data-lang="en"]')
            expect(page.locator("h1")).to_have_text("Analytics")
            assert errors == [], errors
        finally:
            browser.close()
    assert outside == [], f"the console asked other hosts: {outside}"
