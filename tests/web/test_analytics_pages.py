"""The Analytics pages (/analytics/...) over a demo data set that ends on 2025-11-30, before
today: every tab renders with data for every role, filters and breakdowns reach the services,
the numbers on a page are the service's numbers, bad input is shown on the page (never a 500),
an empty range says so, htmx gets the results alone; and the demo's planted truths
(docs/demo-data.md) are one click away.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.web.support import Console, running_console
from userops.analytics import activity, channels, funnels, lifecycle, retention, revenue
from userops.analytics.costs import import_costs
from userops.analytics.early_action import DID, DID_NOT, early_action_retention
from userops.analytics.filters import parse_where
from userops.analytics.funnels import FunnelSpec, FunnelStep, step_filter
from userops.profiles import segments
from userops.services.demo import load_demo
from userops.services.runtime import Runtime
from userops.web.analytics import router
from userops.web.analytics.page import TABS
from userops.web.i18n import EN, ZH_CN

END = date(2025, 11, 30)  # the demo's last day: not today, so defaults must follow the data
START = date(2025, 9, 2)  # its first (90 local days)
LAST_30 = date(2025, 11, 1)
TEMPLATES = Path(__file__).parents[2] / "src" / "userops" / "web" / "templates" / "analytics"
HTMX = {"HX-Request": "true", "HX-Target": "analytics-results"}

pytestmark = pytest.mark.slow


# --- a small HTML reader: elements by id, attributes, text ------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all(self, tag: str, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, id_: str) -> Node:
        found = [n for n in self.walk() if n.attrs.get("id") == id_]
        assert found, f"no element #{id_}"
        return found[0]

    def has_id(self, id_: str) -> bool:
        return any(n.attrs.get("id") == id_ for n in self.walk())


VOID = {"input", "br", "meta", "link", "img", "hr", "col", "source"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for node in self.stack:
            node.parts.append(data)


def read(html: str) -> Node:
    reader = _Reader()
    reader.feed(html)
    return reader.root


def chart(page: Node, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(page.by_id(f"chart-{name}").attrs["data-analytics-chart"])
    return spec


def value(cell: Node) -> str:
    return cell.attrs["data-value"]


def num(text: str) -> float | None:
    return None if text == "None" else float(text)


# --- the data -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The demo of docs/demo-data.md, smaller (3,000 users, 90 days to 2025-11-30), with the
    costs of two channels imported."""
    folder = tmp_path_factory.mktemp("analytics-pages")
    with running_console(folder / "data") as console:
        settings = console.app.state.settings
        console.app.state.runtime.close()  # the demo import takes the warehouse for a moment
        load_demo(settings, users=3000, days=90, seed=42, end=END)
        console.app.state.runtime = Runtime(settings)
        costs = folder / "costs.csv"
        costs.write_text(
            "date,channel,amount\n2025-11-02,paid_search,1200.50\n2025-11-03,feed_ads,800\n"
        )
        with console.app.state.runtime.warehouse() as wh:
            import_costs(wh, costs)
        yield console


def get(console: Console, path: str, who: str = "viewer", **headers: str) -> Node:
    response = console.client(who).get(path, headers=headers)
    assert response.status_code == 200, (path, response.text[:2000])
    return read(response.text)


def warehouse(console: Console) -> Any:
    return console.app.state.runtime.warehouse()


# --- access and the frame -------------------------------------------------------------------------


def test_every_analytics_route_is_open_to_every_role(demo: Console) -> None:
    paths = {route.path for route in router.routes if isinstance(route, APIRoute)}
    assert paths == {"/analytics", *(f"/analytics/{tab}" for tab in TABS)} | {
        "/analytics/funnels/dropped.csv",
        "/analytics/funnels/dropped/segment",  # analysts and up: tested below
        "/analytics/retention/segment",
    }
    for who in ("viewer", "analyst", "operator", "admin"):
        for tab in TABS:
            assert demo.client(who).get(f"/analytics/{tab}").status_code == 200, (who, tab)
    home = demo.client("viewer").get("/analytics?by=city", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/analytics/activity?by=city"
    for tab in TABS:
        anonymous = demo.anonymous.get(f"/analytics/{tab}?by=city", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == f"/login?next=/analytics/{tab}%3Fby%3Dcity"
    csv_path = "/analytics/funnels/dropped.csv?step=app_open&step=purchase&dropped=2"
    assert demo.anonymous.get(csv_path, follow_redirects=False).status_code == 303


def test_the_navigation_and_tabs_link_the_pages(demo: Console) -> None:
    page = get(demo, "/analytics/retention?from=2025-11-01&to=2025-11-20&where=gender%3Dfemale")
    assert page.all("a", href="/analytics")  # the sidebar entry is a link now
    tabs = {a.attrs["data-tab"]: a.attrs["href"] for a in page.all("a") if "data-tab" in a.attrs}
    assert set(tabs) == set(TABS)
    for tab, href in tabs.items():  # the range and filters travel with the tabs
        assert urlsplit(href).path == f"/analytics/{tab}"
        assert parse_qs(urlsplit(href).query) == {
            "from": ["2025-11-01"],
            "to": ["2025-11-20"],
            "where": ["gender=female"],
        }
    current = [a for a in page.all("a") if a.attrs.get("aria-current") == "page"]
    assert any(a.attrs.get("data-tab") == "retention" for a in current)
    assert any(a.attrs.get("href") == "/analytics" for a in current)  # the sidebar, on a tab
    assert not any(a.attrs.get("href") == "/" for a in current)  # not the overview as well


def test_the_default_range_is_the_last_30_days_of_the_data(demo: Console) -> None:
    for tab in TABS:
        page = get(demo, f"/analytics/{tab}")
        if tab == "funnels":
            assert page.has_id("funnel-hint")  # no step yet: the builder only
            continue
        assert "2025-11-01 to 2025-11-30 (30 days" in page.by_id("analytics-caption").text, tab
    ranges = {
        a.attrs["data-range"]: a.attrs["href"]
        for a in get(demo, "/analytics/lifecycle").all("a")
        if "data-range" in a.attrs
    }
    assert parse_qs(urlsplit(ranges["analytics.range.all"]).query) == {
        "from": [START.isoformat()],
        "to": [END.isoformat()],
    }


def test_pages_run_no_inline_script(demo: Console) -> None:
    for tab in TABS:
        page = get(demo, f"/analytics/{tab}?step=view_item&step=purchase")
        assert all("src" in script.attrs for script in page.all("script")), tab
        charts = [n for n in page.walk() if "data-analytics-chart" in n.attrs]
        assert charts, tab
        for node in charts:  # the chart's spec is JSON in an attribute
            assert json.loads(node.attrs["data-analytics-chart"])["series"]


# --- activity -------------------------------------------------------------------------------------


def test_activity_shows_the_services_numbers(demo: Console) -> None:
    page = get(demo, "/analytics/activity")
    with warehouse(demo) as wh:
        sticky = activity.stickiness(wh, start=LAST_30, end=END)
        new = activity.new_users(wh, period="day", start=LAST_30, end=END, by="channel")
        active = activity.active_users(wh, period="day", start=LAST_30, end=END)
    [row] = page.by_id("activity-summary").all("tr", data_group="")
    cells = row.all("td")
    points = sticky.points
    assert num(value(cells[0])) == round(sum(p.dau for p in points) / len(points), 1)
    assert int(value(cells[1])) == points[-1].wau and int(value(cells[2])) == points[-1].mau
    assert num(value(cells[3])) == sticky.average()
    assert int(value(cells[4])) == sum(p.new_users for p in new.points) > 0
    dau = chart(page, "dau")
    assert dau["x"][0] == "2025-11-01" and dau["x"][-1] == "2025-11-30"
    assert [s["data"] for s in dau["series"]] == [
        [p.dau for p in points],
        [p.wau for p in points],
        [p.mau for p in points],
    ]
    stacked = chart(page, "new-users")
    assert {s["name"] for s in stacked["series"]} == {p.group for p in new.points}
    assert sum(sum(s["data"]) for s in stacked["series"]) == sum(p.new_users for p in new.points)
    assert chart(page, "active")["series"][0]["data"] == [p.active for p in active.points]


def test_activity_applies_filters_breakdown_event_and_period(demo: Console) -> None:
    page = get(
        demo, "/analytics/activity?where=gender%3Dfemale&by=channel&event=purchase&period=week"
    )
    filters = parse_where(["gender=female"])
    with warehouse(demo) as wh:
        sticky = activity.stickiness(wh, start=LAST_30, end=END, filters=filters, by="channel")
        active = activity.active_users(
            wh,
            period="week",
            start=LAST_30,
            end=END,
            event="purchase",
            filters=filters,
            by="channel",
        )
        new = activity.new_users(
            wh, period="day", start=LAST_30, end=END, filters=filters, by="channel"
        )
    rows = page.by_id("activity-summary").all("tr")[1:]
    groups = [r.attrs["data-group"] for r in rows]
    assert groups == [g for g in dict.fromkeys(p.group or "" for p in sticky.points)]
    for row in rows:
        group = row.attrs["data-group"] or None
        cells = row.all("td")
        assert num(value(cells[3])) == sticky.average(group)
        mine = [p for p in new.points if p.group == group]
        assert int(value(cells[4])) == sum(p.new_users for p in mine)
    spec = chart(page, "active")
    assert spec["x"] == sorted({p.date.isoformat() for p in active.points})
    by_group = {s["name"]: s["data"] for s in spec["series"]}
    for p in active.points:
        assert by_group[p.group or "(not set)"][spec["x"].index(p.date.isoformat())] == p.active
    assert "filters: gender=female" in page.by_id("analytics-caption").text


def test_activity_with_a_property_filter_leaves_out_new_users(demo: Console) -> None:
    page = get(demo, "/analytics/activity?where=prop.category%3D美妆个护")
    assert not page.has_id("chart-new-users")
    assert "New users are counted from signups" in page.by_id("analytics-results").text
    with warehouse(demo) as wh:
        sticky = activity.stickiness(
            wh, start=LAST_30, end=END, filters=parse_where(["prop.category=美妆个护"])
        )
    assert chart(page, "dau")["series"][0]["data"] == [p.dau for p in sticky.points]


# --- retention ------------------------------------------------------------------------------------


def heat_rows(table: Node) -> list[tuple[str, int, list[float | None]]]:
    """(row label, size, rates by k; None where shown as n/a) of a heatmap table."""
    out = []
    for row in table.all("tr")[1:]:
        size = int(value(row.all("td", **{"class": "size"})[0]))
        rates = [
            num(c.attrs["data-rate"]) if "data-rate" in c.attrs else None
            for c in row.all("td")
            if "heat" in c.attrs.get("class", "") and "unreached" not in c.attrs["class"]
        ]
        out.append((row.all("th")[0].text, size, rates))
    return out


def test_retention_heatmap_is_the_services_cohorts_and_average(demo: Console) -> None:
    page = get(demo, "/analytics/retention")
    with warehouse(demo) as wh:
        got = retention.retention(wh, period="day", periods=7, start=LAST_30, end=END)
    rows = heat_rows(page.by_id("heatmap-0"))
    assert rows[0] == ("Average", sum(c.size for c in got.cohorts), list(got.average()))
    assert rows[1:] == [(c.cohort.isoformat(), c.size, list(c.rates)) for c in got.cohorts]
    headers = [th.text for th in page.by_id("heatmap-0").all("th")[:10]]
    assert headers == [
        "Cohort",
        "Users",
        "Day 0",
        "Day 1",
        "Day 2",
        "Day 3",
        "Day 4",
        "Day 5",
        "Day 6",
        "Day 7",
    ]
    assert chart(page, "curve")["series"][0]["data"] == list(got.average())


def test_retention_options_and_breakdown(demo: Console) -> None:
    page = get(
        demo,
        "/analytics/retention?period=week&periods=4&cohort=signup&return_event=purchase"
        "&unbounded=1&by=gender&where=channel!%3Dunknown&from=2025-10-01",
    )
    with warehouse(demo) as wh:
        got = retention.retention(
            wh,
            period="week",
            periods=4,
            start=date(2025, 10, 1),
            end=END,
            basis="signup",
            return_event="purchase",
            unbounded=True,
            filters=parse_where(["channel!=unknown"]),
            by="gender",
        )
    groups = [g for g in dict.fromkeys(c.group for c in got.cohorts)]
    compared = heat_rows(page.by_id("retention-groups"))
    assert [size for _, size, _ in compared] == [
        sum(c.size for c in got.cohorts if c.group == g) for g in groups
    ]
    assert [rates for *_, rates in compared] == [list(got.group_average(g)) for g in groups]
    for index, group in enumerate(groups, 1):
        table = page.by_id(f"heatmap-{index}")
        assert table.attrs["data-group"] == (group or "")
        mine = [c for c in got.cohorts if c.group == group]
        assert heat_rows(table)[1:] == [(c.cohort.isoformat(), c.size, list(c.rates)) for c in mine]
    assert [s["name"] for s in chart(page, "curve")["series"]] == [g or "(not set)" for g in groups]


def test_retention_split_by_an_early_action(demo: Console) -> None:
    page = get(
        demo,
        "/analytics/retention?period=week&periods=6&cohort=signup&early=add_to_cart"
        "&early_days=3&from=2025-10-01",
    )
    with warehouse(demo) as wh:
        got = early_action_retention(
            wh,
            events=["add_to_cart"],
            within_days=3,
            period="week",
            periods=6,
            start=date(2025, 10, 1),
            end=END,
            basis="signup",
        )
    compared = heat_rows(page.by_id("retention-groups"))
    assert [label for label, *_ in compared] == ["Did add_to_cart within 3 days", "Did not"]
    assert [rates for *_, rates in compared] == [
        list(got.retention.group_average(g)) for g in (DID, DID_NOT)
    ]
    assert f"{got.share() * 100:.1f}%" in page.by_id("early-share").text


# --- funnels --------------------------------------------------------------------------------------


def test_the_funnel_steps_are_the_services(demo: Console) -> None:
    path = "/analytics/funnels?step=view_item&step=add_to_cart&step=purchase&window=2d&by=channel"
    page = get(demo, path)
    with warehouse(demo) as wh:
        spec = FunnelSpec.of(
            ["view_item", "add_to_cart", "purchase"],
            start=LAST_30,
            end=END,
            window="2d",
            by="channel",
        )
        got = funnels.funnel(wh, spec)
    rows = page.by_id("funnel-steps").all("tr")[1:]
    assert [int(value(r.all("td")[0])) for r in rows] == [s.count for s in got.steps]
    assert [num(value(r.all("td")[1])) for r in rows] == [s.conversion for s in got.steps]
    assert [num(value(r.all("td")[3])) for r in rows] == [s.median_seconds for s in got.steps]
    assert rows[2].all("th")[0].text == "3. purchase"
    matrix = page.by_id("funnel-breakdown").all("tr")[1:]
    assert [r.attrs["data-group"] for r in matrix] == [g.key or "" for g in got.breakdown]
    for row, group in zip(matrix, got.breakdown, strict=True):
        assert [int(value(c)) for c in row.all("td")] == [s.count for s in group.steps]
    spec_json = chart(page, "funnel")
    assert spec_json["x"] == ["1. view_item", "2. add_to_cart", "3. purchase"]
    assert [s["data"] for s in spec_json["series"]] == [
        [s.conversion for s in g.steps] for g in got.breakdown
    ]


def test_a_step_with_a_property_condition_and_the_order_mode(demo: Console) -> None:
    page = get(
        demo,
        "/analytics/funnels?step=view_item&step_where=category%3D美妆个护"
        "&step=add_to_cart&step_where=&order=strict&window=1h",
    )
    with warehouse(demo) as wh:
        steps = [
            FunnelStep("view_item", (step_filter("category", "=", "美妆个护"),)),
            FunnelStep("add_to_cart"),
        ]
        got = funnels.funnel(
            wh, FunnelSpec.of(steps, start=LAST_30, end=END, window="1h", order="strict")
        )
    rows = page.by_id("funnel-steps").all("tr")[1:]
    assert rows[0].all("th")[0].text == "1. view_item[prop.category=美妆个护]"
    assert [int(value(r.all("td")[0])) for r in rows] == [s.count for s in got.steps]
    assert got.steps[1].count > 0


def test_the_users_who_dropped_at_a_step_are_listed_and_downloadable(demo: Console) -> None:
    query = "step=app_open&step=add_to_cart&step=purchase&window=7d&by=gender"
    page = get(demo, f"/analytics/funnels?{query}")
    link = page.by_id("funnel-steps").all("a", data_dropped="3")[0]
    assert link.attrs["hx-get"] == link.attrs["href"]
    listed = get(demo, link.attrs["href"])
    with warehouse(demo) as wh:
        spec = FunnelSpec.of(
            ["app_open", "add_to_cart", "purchase"], start=LAST_30, end=END, by="gender"
        )
        got = funnels.funnel(wh, spec)
    dropped = got.dropped_users(3)
    section = listed.by_id("funnel-dropped")
    assert f"{len(dropped):,} users dropped here" in section.text
    hrefs = [a.attrs["href"] for a in section.all("a") if a.attrs["href"].startswith("/profiles")]
    assert hrefs == [f"/profiles/users/{uid}" for uid in dropped[:200]]
    response = demo.client("viewer").get(listed.by_id("dropped-csv").attrs["href"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="funnel-dropped-step-3.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["user_id", "last_step", "dropped_before", "gender"]
    assert [r[0] for r in rows[1:]] == dropped
    assert {r[1] for r in rows[1:]} == {"add_to_cart"} and {r[2] for r in rows[1:]} == {"purchase"}
    genders = dict(zip(got.users["uid"].to_pylist(), got.users["grp"].to_pylist(), strict=True))
    assert [r[3] for r in rows[1:]] == [genders[u] or "" for u in dropped]


def _save_form(page: str, form_id: str) -> tuple[str, str]:
    """The action of a page's save-as-segment form and the page's CSRF token."""
    form = page.split(f'id="{form_id}"', 1)[0].rsplit("<form", 1)[1]
    action = html.unescape(form.split('action="', 1)[1].split('"', 1)[0])
    return action, page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_users_who_dropped_are_saved_as_a_segment(demo: Console) -> None:
    """As the API's segment from a funnel (docs/segments.md), from the funnel page: analysts
    and up see the form; the static segment holds exactly the users who dropped."""
    query = "step=app_open&step=add_to_cart&step=purchase&window=7d&dropped=3"
    assert not get(demo, f"/analytics/funnels?{query}").has_id("dropped-segment")  # a viewer
    analyst = demo.client("analyst")
    action, token = _save_form(analyst.get(f"/analytics/funnels?{query}").text, "dropped-segment")
    assert action.startswith("/analytics/funnels/dropped/segment?") and "dropped=3" in action
    fields = {"csrf_token": token, "code": "cart_quitters", "name": "加购未购"}
    assert demo.client("viewer").post(action, data=fields).status_code == 403
    assert analyst.post(action, data={**fields, "csrf_token": "x"}).status_code == 403
    saved = analyst.post(action, data=fields, follow_redirects=False)
    assert (
        saved.status_code == 303 and saved.headers["location"] == "/profiles/segments/cart_quitters"
    )
    with warehouse(demo) as wh:
        spec = FunnelSpec.of(["app_open", "add_to_cart", "purchase"], start=LAST_30, end=END)
        dropped = funnels.funnel(wh, spec).dropped_users(3)
        members = segments.members(wh, "cart_quitters").column("user_id").to_pylist()
    assert dropped and members == sorted(dropped)
    info = segments.get_segment(demo.engine, "cart_quitters")
    assert (info.kind, info.size, info.owner) == ("static", len(dropped), "analyst")
    assert "Segment cart_quitters was saved" in analyst.get(saved.headers["location"]).text
    again = analyst.post(action, data=fields, follow_redirects=False)  # the code is taken
    assert again.status_code == 303 and again.headers["location"].startswith("/analytics/funnels?")
    shown = html.unescape(analyst.get(again.headers["location"]).text)
    assert "The segment was not saved: segment 'cart_quitters' already exists" in shown
    assert segments.get_segment(demo.engine, "cart_quitters").size == len(dropped)
    with warehouse(demo) as wh:  # the module's console as the other tests expect it
        segments.delete_segment(demo.engine, wh, "cart_quitters", actor="t")


def test_a_retention_cell_is_saved_as_a_segment(demo: Console) -> None:
    """One cohort's users in one period, retained or lost, from the retention page (analysts
    and up), as `retention_cell_users` gives them for the page's own parameters."""
    query = f"period=week&from={LAST_30}&to={END}"
    assert not get(demo, f"/analytics/retention?{query}").has_id("retention-segment")  # viewer
    analyst = demo.client("analyst")
    action, token = _save_form(
        analyst.get(f"/analytics/retention?{query}").text, "retention-segment"
    )
    assert action.startswith("/analytics/retention/segment?") and "period=week" in action
    with warehouse(demo) as wh:
        table = retention.retention(wh, period="week", periods=8, start=LAST_30, end=END)
    cohort = next(c for c in table.cohorts if c.size)
    sizes = []
    for users, code in (("retained", "week1_kept"), ("lost", "week1_lost")):
        fields = {"csrf_token": token, "code": code, "name": code, "cell_users": users,
                  "cell_cohort": cohort.cohort.isoformat(), "cell_k": "1"}  # fmt: skip
        saved = analyst.post(action, data=fields, follow_redirects=False)
        assert (
            saved.status_code == 303 and saved.headers["location"] == f"/profiles/segments/{code}"
        )
        with warehouse(demo) as wh:
            expected = retention.retention_cell_users(
                wh, period="week", start=LAST_30, end=END, cohort=cohort.cohort, k=1,
                retained=users == "retained",
            )  # fmt: skip
            members = segments.members(wh, code).column("user_id").to_pylist()
            segments.delete_segment(demo.engine, wh, code, actor="t")
        assert members == expected
        sizes.append(len(members))
    assert sum(sizes) == cohort.size  # retained and lost make up the cohort
    bad = {**fields, "cell_cohort": "2025-13-01"}
    refused = analyst.post(action, data=bad, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith(
        "/analytics/retention?"
    )
    shown = html.unescape(analyst.get(refused.headers["location"]).text)
    assert "The segment was not saved: cohort '2025-13-01' is not a date (YYYY-MM-DD)" in shown
    assert demo.client("viewer").post(action, data=fields).status_code == 403


def test_the_csv_refuses_bad_input_in_one_line(demo: Console) -> None:
    client = demo.client("viewer")
    reply = client.get("/analytics/funnels/dropped.csv?step=app_open&step=purchase&dropped=1")
    assert reply.status_code == 400 and "step 1 is not a step of this funnel" in reply.text
    reply = client.get("/analytics/funnels/dropped.csv?dropped=2")
    assert reply.status_code == 400 and "no steps" in reply.text


def test_the_builder_keeps_the_steps(demo: Console) -> None:
    page = get(demo, "/analytics/funnels?step=search&step_where=&step=&step_where=&step=purchase")
    rows = page.by_id("step-list").all("li")
    chosen = [
        next((o.attrs["value"] for o in r.all("option") if "selected" in o.attrs), "") for r in rows
    ]
    assert chosen == ["search", "purchase"]  # the blank row in between is dropped
    empty = get(demo, "/analytics/funnels").by_id("step-list").all("li")
    assert len(empty) == 2  # a fresh builder offers two rows


# --- revenue --------------------------------------------------------------------------------------


def test_revenue_cards_are_the_services_summary(demo: Console) -> None:
    page = get(demo, "/analytics/revenue?within=3")
    with warehouse(demo) as wh:
        got = revenue.revenue(wh, period="day", start=LAST_30, end=END, within_days=3)
    cards = {
        card.attrs["data-metric"]: value(card.all("span", **{"class": "value"})[0])
        for card in page.by_id("revenue-cards").all("article")
    }
    f = got.summary.figures
    assert cards["paying_users"] == str(f.paying) and cards["revenue"] == str(f.revenue)
    assert cards["paying_rate"] == str(f.paying_rate) and cards["arppu"] == str(f.arppu)
    assert cards["arpu"] == str(f.arpu) and cards["aov"] == str(f.aov)
    assert cards["repurchase_rate"] == str(f.repurchase_rate)
    assert cards["first_purchase_rate"] == str(got.summary.conversion_rate)
    churned = sum(p.churned for p in got.points)
    before = sum(p.previously_active for p in got.points)
    assert cards["churn_rate"] == str(round(churned / before, 4))
    bars = chart(page, "revenue")["series"][0]["data"]
    assert bars == [float(p.figures.revenue) for p in got.points]
    assert "within 3 days" in page.by_id("revenue-cards").text


def test_revenue_by_a_trait_per_week(demo: Console) -> None:
    page = get(demo, "/analytics/revenue?by=channel&period=week&where=gender%3Dmale")
    with warehouse(demo) as wh:
        got = revenue.revenue(
            wh,
            period="week",
            start=LAST_30,
            end=END,
            filters=parse_where(["gender=male"]),
            by="channel",
        )
    rows = page.by_id("revenue-groups").all("tr")[1:]
    assert [r.attrs["data-group"] for r in rows] == [g.group or "" for g in got.groups]
    for row, group in zip(rows, got.groups, strict=True):
        cell = {c.attrs.get("data-metric"): value(c) for c in row.all("td")}
        assert cell["revenue"] == str(group.figures.revenue)
        assert cell["paying_rate"] == str(group.figures.paying_rate)
    assert chart(page, "revenue")["x"][0] == "2025-10-27"  # widened to whole weeks


# --- channels -------------------------------------------------------------------------------------


def channel_rows(page: Node) -> list[Node]:
    return page.by_id("channels-table").all("tbody")[0].all("tr")


def test_channels_ranked_with_the_services_numbers_and_costs(demo: Console) -> None:
    page = get(demo, "/analytics/channels")
    with warehouse(demo) as wh:
        got = channels.channels(wh, start=LAST_30, end=END)
    rates = {r.group: r.paying_rate for r in got.rows}
    rows = channel_rows(page)
    ranked = sorted(rates, key=lambda g: (-(rates[g] or 0), g or ""))
    assert [r.attrs["data-group"] for r in rows] == ranked
    for row in rows:
        mine = got.row(row.attrs["data-group"])
        cell = {
            c.attrs.get("data-metric"): value(c) for c in row.all("td") if "data-value" in c.attrs
        }
        assert cell["paying_rate"] == str(mine.paying_rate)
        assert cell["new_users"] == str(mine.new_users)
        assert cell["retention_d7"] == str(mine.retention[1].rate)
        assert cell["ltv30"] == str(mine.ltv[2].revenue_per_user)
        assert cell["cost"] == str(mine.cost) and cell["roi"] == str(mine.roi)
    assert got.row("paid_search").cost == Decimal("1200.50")  # the imported costs show
    spec = chart(page, "ranking")
    assert spec["x"] == ranked and spec["highlight"] == 0
    assert spec["series"][0]["data"] == [rates[g] for g in ranked]


def test_channels_sorted_by_another_measure_and_grouped_by_a_trait(demo: Console) -> None:
    page = get(demo, "/analytics/channels?by=gender&sort=new_users")
    with warehouse(demo) as wh:
        got = channels.channels(wh, start=LAST_30, end=END, by="gender")
    counts = {r.group or "": r.new_users for r in got.rows}
    order = [r.attrs["data-group"] for r in channel_rows(page)]
    assert [counts[g] for g in order] == sorted(counts.values(), reverse=True)
    assert "Cost" not in page.by_id("channels-table").text  # costs are per channel only


# --- lifecycle ------------------------------------------------------------------------------------


def test_lifecycle_is_the_services_with_dormant_below_the_axis(demo: Console) -> None:
    page = get(demo, "/analytics/lifecycle?event=app_open")
    with warehouse(demo) as wh:
        got = lifecycle.lifecycle(wh, period="week", start=LAST_30, end=END, event="app_open")
    rows = page.by_id("lifecycle-table-0").all("tr")[1:]
    assert [r.attrs["data-date"] for r in rows] == [p.date.isoformat() for p in got.points]
    for row, point in zip(rows, got.points, strict=True):
        cells = {
            c.attrs["data-state"]: int(value(c)) for c in row.all("td") if "data-state" in c.attrs
        }
        assert cells == {
            "new": point.new,
            "returning": point.returning,
            "resurrecting": point.resurrecting,
            "dormant": point.dormant,
        }
    series = {s["name"]: s["data"] for s in chart(page, "lifecycle")["series"]}
    assert series["Dormant"] == [-p.dormant for p in got.points]
    assert series["New"] == [p.new for p in got.points]


def test_lifecycle_by_a_trait_draws_one_chart_per_group(demo: Console) -> None:
    page = get(demo, "/analytics/lifecycle?by=gender&period=month&from=2025-09-02")
    with warehouse(demo) as wh:
        got = lifecycle.lifecycle(wh, period="month", start=START, end=END, by="gender")
    groups = list(dict.fromkeys(p.group for p in got.points))
    for index, group in enumerate(groups, 1):
        mine = [p for p in got.points if p.group == group]
        assert chart(page, f"lifecycle-{index}")["series"][0]["data"] == [p.new for p in mine]


# --- bad input, empty ranges, htmx ----------------------------------------------------------------


BAD = [
    ("activity", "from=2025-13-01", "from '2025-13-01' is not a date"),
    ("activity", "from=2025-11-20&to=2025-11-01", "starts (2025-11-20) after it ends"),
    ("activity", "where=colour%3Dred", "unknown filter field 'colour'"),
    ("activity", "by=colour", "unknown breakdown field 'colour'"),
    ("activity", "period=year", "period 'year' is not one of day, week, month"),
    ("retention", "periods=abc", "periods 'abc' is not a whole number"),
    ("retention", "periods=61", "periods 61 is not between 0 and 60"),
    ("retention", "cohort=birthday", "cohort 'birthday' is not one of"),
    ("retention", "early=purchase&by=city", "choose a breakdown (city) or an early action"),
    ("funnels", "step=app_open", "a funnel has 2 to 20 steps, not 1"),
    ("funnels", "step=app_open&step=purchase&window=7x", "window '7x' is not a duration"),
    ("funnels", "step=app_open&step=&step_where=&step_where=price%3E1", "step 2 has a condition"),
    ("funnels", "step=a&step=b&step_where=&step_where=price%3Echeap", "'cheap' is not a number"),
    ("funnels", "step=app_open&step=purchase&dropped=1", "step 1 is not a step"),
    ("funnels", "step=app_open&step=purchase&order=random", "order 'random' is not one of"),
    ("funnels", "&".join(["step=app_open"] * 21), "2 to 20 steps, not 21"),
    ("revenue", "within=0", "within 0 is not between 1 and 3660"),
    ("channels", "sort=vibes", "sort 'vibes' is not one of"),
    ("channels", "activation_days=9999", "activation_days 9999 is not between 1 and 3660"),
    ("lifecycle", "period=quarter", "period 'quarter' is not one of"),
]


@pytest.mark.parametrize(("tab", "query", "message"), BAD, ids=[f"{t}-{q[:24]}" for t, q, _ in BAD])
def test_bad_input_is_shown_on_the_page(demo: Console, tab: str, query: str, message: str) -> None:
    client = demo.client("viewer")
    response = client.get(f"/analytics/{tab}?{query}")
    assert response.status_code == 400
    page = read(response.text)
    error = page.by_id("analytics-error").text
    assert error.startswith("Cannot compute this:") and message in error, error
    assert page.has_id("analytics-form")  # the controls stay, to fix the value
    swapped = client.get(f"/analytics/{tab}?{query}", headers=HTMX)
    assert swapped.status_code == 200  # htmx swaps 2xx replies only
    assert swapped.text.lstrip().startswith('<section id="analytics-results"')
    assert message.replace("'", "&#39;") in swapped.text


@pytest.mark.parametrize("tab", TABS)
def test_an_empty_range_says_so(demo: Console, tab: str) -> None:
    steps = "&step=view_item&step=purchase" if tab == "funnels" else ""
    page = get(demo, f"/analytics/{tab}?from=2020-01-01&to=2020-01-31{steps}")
    notice = page.by_id("analytics-empty").text
    assert notice == "No data in this range. The events cover 2025-09-02 to 2025-11-30."
    assert not page.all("div", **{"class": "echart"})


@pytest.mark.parametrize("tab", TABS)
def test_an_empty_warehouse_says_how_to_fill_it(shared_console: Console, tab: str) -> None:
    steps = "?step=view_item&step=purchase" if tab == "funnels" else ""
    page = get(shared_console, f"/analytics/{tab}{steps}")
    assert "The warehouse has no events yet" in page.by_id("analytics-empty").text


def test_htmx_gets_the_results_alone(demo: Console) -> None:
    client = demo.client("viewer")
    path = "/analytics/channels?sort=new_users"
    partial = client.get(path, headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in partial.text and "analytics-form" not in partial.text
    fragment = read(partial.text)
    assert fragment.by_id("channels-table").attrs["data-sort"] == "new_users"
    assert json.loads(fragment.by_id("chart-ranking").attrs["data-analytics-chart"])["series"]
    tabs = fragment.by_id("analytics-tabs")  # out of band: the tabs follow the new controls
    assert tabs.attrs["hx-swap-oob"] == "true"
    filtered = read(client.get(f"{path}&where=gender%3Dmale&to=2025-11-20", headers=HTMX).text)
    activity_tab = filtered.by_id("analytics-tabs").all("a", data_tab="activity")[0]
    assert parse_qs(urlsplit(activity_tab.attrs["href"]).query) == {
        "where": ["gender=male"],
        "to": ["2025-11-20"],
    }
    assert filtered.by_id("analytics-ranges").attrs["hx-swap-oob"] == "true"
    restore = client.get(path, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text  # a history restore needs the whole page
    form = read(client.get(path).text).by_id("analytics-form")
    assert form.attrs["hx-get"] == "/analytics/channels" and form.attrs["hx-push-url"] == "true"
    assert form.attrs["hx-target"] == "#analytics-results" and form.attrs["method"] == "get"


# --- languages ------------------------------------------------------------------------------------


def analytics_keys() -> set[str]:
    """The keys the analytics templates name, and those the code builds from a value."""
    import re

    used: set[str] = set()
    sources = [*TEMPLATES.glob("*.html"), *(TEMPLATES.parents[1] / "analytics").glob("*.py")]
    for source in sources:  # t("analytics.x"), and keys handed to macros and to t() in code
        found = re.findall(r"""["'](analytics\.[\w.-]+)["']""", source.read_text())
        used |= {key for key in found if not key.endswith((".", "_"))}  # not `prefix ~ value`
    used |= {f"analytics.tab.{tab}" for tab in TABS} | {f"analytics.help.{tab}" for tab in TABS}
    used |= {
        f"analytics.field.{f}" for f in ("channel", "gender", "province", "city", "occupation")
    }
    for period in ("day", "week", "month"):
        used |= {f"analytics.period.{period}", f"analytics.per.{period}"}
        used |= {f"analytics.retention.k_{period}", f"analytics.retention.k0_{period}"}
    used |= {f"analytics.retention.basis.{b}" for b in ("first-activity", "signup")}
    used |= {f"analytics.retention.basis_help.{b}" for b in ("first_activity", "signup")}
    used |= {f"analytics.retention.reading_{w}" for w in ("on", "unbounded")}
    used |= {f"analytics.funnels.order.{o}" for o in ("ordered", "strict", "any")}
    from userops.web.analytics.channels import SORTS
    from userops.web.analytics.revenue import CARDS

    used |= {f"analytics.channels.sort.{s}" for s in SORTS}
    used |= {f"analytics.revenue.{k}" for k, _ in CARDS}
    used |= {f"analytics.revenue.help.{k}" for k, _ in CARDS}
    used |= {f"analytics.lifecycle.{s}" for s in ("new", "returning", "resurrecting", "dormant")}
    used |= {f"analytics.range.last_{n}" for n in (7, 30, 90)} | {"analytics.range.all"}
    for chart_key in ("revenue", "rates", "per_user"):
        used |= {f"analytics.revenue.chart_{chart_key}", f"analytics.revenue.chart_{chart_key}_by"}
    return used


def test_both_languages_hold_every_analytics_key() -> None:
    used = analytics_keys()
    assert used - set(EN) == set() and used - set(ZH_CN) == set()
    from userops.web.messages import analytics as messages

    assert set(messages.EN) == set(messages.ZH_CN)
    assert all(key.startswith("analytics.") for key in messages.EN)
    unused = set(messages.EN) - used
    assert unused == set(), f"keys no page uses: {sorted(unused)}"


def test_the_pages_in_chinese(demo: Console) -> None:
    client = TestClient(demo.app, cookies={"userops_lang": "zh-CN"})
    from tests.web.support import login

    login(client, "viewer")
    page = read(client.get("/analytics/retention?period=week&periods=3").text)
    assert page.all("h1")[0].text == "数据分析"
    tabs = [a.text for a in page.all("a") if "data-tab" in a.attrs]
    assert tabs == ["活跃", "留存", "漏斗", "收入与转化", "渠道", "生命周期"]
    headers = [th.text for th in page.by_id("heatmap-0").all("th")[:5]]
    assert headers == ["同期群", "用户数", "当周", "第 1 周", "第 2 周"]
    assert page.by_id("heatmap-0").all("th")[5].text == "第 3 周"
    assert "本地日期" in page.by_id("analytics-caption").text
    funnel = read(client.get("/analytics/funnels?step=app_open&step=purchase&window=1d").text)
    assert "距上一步中位时长" in funnel.by_id("funnel-steps").text
    client.close()


# --- the planted truths of the demo (docs/demo-data.md) -------------------------------------------


def preset(page: Node, name: str) -> str:
    [link] = page.all("a", data_preset=name)
    return link.attrs["href"]


def test_the_channels_page_ranks_referral_first_by_paying_rate(demo: Console) -> None:
    """Truth 1: referral users convert to paying best, by far; unknown (weak intent) last."""
    href = preset(get(demo, "/analytics/channels"), "channels-all")  # one click from the page
    page = get(demo, href)
    assert "2025-09-02 to 2025-11-30" in page.by_id("analytics-caption").text
    rows = channel_rows(page)
    assert rows[0].attrs["data-group"] == "referral" and "best" in rows[0].text
    assert rows[-1].attrs["data-group"] == "unknown"
    rates = [
        num(c.attrs["data-value"]) for r in rows for c in r.all("td", data_metric="paying_rate")
    ]
    assert rates[0] is not None and rates[1] is not None and rates[0] > 1.4 * rates[1]
    assert page.by_id("channels-best").text.startswith("Best: referral, Paying rate")
    with warehouse(demo) as wh:
        got = channels.channels(wh, start=START, end=END)
    assert rates[0] == got.row("referral").paying_rate


def test_the_funnel_preset_shows_referral_converting_best(demo: Console) -> None:
    href = preset(get(demo, "/analytics/funnels"), "browse-to-buy")
    page = get(demo, href)
    purchase = {
        row.attrs["data-group"]: num(row.all("td", data_step="3")[0].attrs["data-conversion"])
        for row in page.by_id("funnel-breakdown").all("tr")[1:]
    }
    named = {g: r for g, r in purchase.items() if g}
    assert max(named, key=lambda g: named[g] or 0) == "referral"


def test_the_retention_preset_shows_the_first_week_cart_effect(demo: Console) -> None:
    """Truth 2: users who add to cart or buy in their first 7 days stay; the others churn."""
    page = get(demo, "/analytics/retention")
    href = preset(page, "early-action")
    query = parse_qs(urlsplit(href).query)
    assert query["early"] == ["add_to_cart", "purchase"] and query["early_days"] == ["7"]
    shown = get(demo, href)
    compared = heat_rows(shown.by_id("retention-groups"))
    (did_label, did_size, did), (not_label, not_size, did_not) = compared
    assert did_label == "Did add_to_cart or purchase within 7 days" and not_label == "Did not"
    share = did_size / (did_size + not_size)
    assert 0.25 < share < 0.36  # 30.1% of the full demo's cohort
    # "on or after" week 4: the share not lost for good a month after signup
    assert did[4] is not None and did_not[4] is not None
    assert did[4] > 0.7 and did_not[4] < 0.35 and did[4] > 2.5 * did_not[4]
    with warehouse(demo) as wh:
        got = early_action_retention(
            wh,
            events=["add_to_cart", "purchase"],
            within_days=7,
            period="week",
            periods=8,
            start=START,
            end=END,
            basis="signup",
            unbounded=True,
        )
    assert did == list(got.retention.group_average(DID))
    assert did_not == list(got.retention.group_average(DID_NOT))
