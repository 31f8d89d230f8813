"""The overview page and GET /api/overview over a small demo data set (300 users, 40 days)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest

from tests.web.support import Console, running_console
from userops.analytics.overview import overview
from userops.services.demo import load_demo
from userops.web.pages import OVERVIEW_DAYS

METRICS = ("new_users", "active_users", "paying_users", "revenue", "retained_d7")


@pytest.fixture(scope="module")
def demo_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = tmp_path_factory.mktemp("overview") / "data"
    with running_console(data_dir) as console:
        settings = console.app.state.settings
        console.app.state.runtime.close()  # the demo import takes the warehouse for a moment
        load_demo(settings, users=300, days=40)
        from userops.services.runtime import Runtime

        console.app.state.runtime = Runtime(settings)
        yield console


def embedded_chart_data(page: str) -> dict[str, object]:
    match = re.search(
        r'<script type="application/json" id="overview-data">(.*?)</script>', page, re.S
    )
    assert match
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_the_overview_shows_five_cards_with_their_series(demo_console: Console) -> None:
    page = demo_console.clients["viewer"].get("/").text
    for metric in METRICS:
        assert f'data-chart="{metric}"' in page
    data = embedded_chart_data(page)
    today = datetime.now(demo_console.app.state.settings.tz).date()
    dates = data["dates"]
    assert isinstance(dates, list) and len(dates) == OVERVIEW_DAYS
    assert dates[-1] == today.isoformat()  # the last 30 days end today, local time
    series = data["series"]
    assert isinstance(series, dict) and set(series) == set(METRICS)
    assert sum(series["active_users"]) > 0 and sum(series["new_users"]) > 0
    assert series["retained_d7"][-1] is None  # too recent to know
    assert "The warehouse has no events" not in page


def test_the_cards_show_the_period_totals(demo_console: Console) -> None:
    page = demo_console.clients["viewer"].get("/").text
    with demo_console.app.state.runtime.warehouse() as wh:
        totals = overview(
            wh, end=datetime.now(demo_console.app.state.settings.tz).date(), days=30
        ).totals()
    card = re.search(r'data-metric="new_users".*?<span class="value">([^<]+)</span>', page, re.S)
    assert card and card.group(1) == f"{totals['new_users']:,}"
    retention = re.search(
        r'data-metric="retained_d7".*?<span class="value">([^<]+)</span>', page, re.S
    )
    assert retention and retention.group(1) == f"{totals['retained_d7_avg'] * 100:.1f}%"


def test_the_api_gives_the_same_numbers(demo_console: Console) -> None:
    client = demo_console.clients["analyst"]
    end = datetime.now(demo_console.app.state.settings.tz).date()
    body = client.get("/api/overview").json()
    assert body["end"] == end.isoformat() and len(body["series"]) == 30
    assert body["timezone"] == "Asia/Shanghai"
    with demo_console.app.state.runtime.warehouse() as wh:
        expected = overview(wh, end=end, days=30).as_json()
    assert body["totals"] == expected["totals"]
    assert body["series"] == expected["series"]


def test_the_api_takes_a_period(demo_console: Console) -> None:
    client = demo_console.clients["viewer"]
    end = date.today() - timedelta(days=3)
    body = client.get(f"/api/overview?end={end.isoformat()}&days=7").json()
    assert body["start"] == (end - timedelta(days=6)).isoformat()
    assert [d["date"] for d in body["series"]][-1] == end.isoformat()
    for query, problem in [
        ("days=0", "query.days: Input should be greater than or equal to 1"),
        ("days=400", "query.days: Input should be less than or equal to 366"),
        ("end=yesterday", "query.end: Input should be a valid date"),
        ("end=9999-12-31", "the last day (end) 9999-12-31 is out of range (1970-01-01 to"),
    ]:
        refused = client.get(f"/api/overview?{query}")
        assert refused.status_code == 400 and problem in refused.json()["detail"], refused.text


def test_an_empty_warehouse_says_how_to_fill_it(shared_console: Console) -> None:
    page = shared_console.clients["viewer"].get("/").text
    assert "The warehouse has no events" in page
    assert 'data-chart="revenue"' in page
