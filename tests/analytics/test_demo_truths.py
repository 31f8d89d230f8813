"""The planted truths of the demo data (docs/demo-data.md) show in the metrics, on a small demo
loaded the way `userops demo load` does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from userops.analytics.channels import channels
from userops.analytics.revenue import revenue
from userops.services.demo import load_demo
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, open_warehouse

END = date(2025, 11, 30)
START = date(2025, 9, 2)  # 90 local days


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo") / "data")
    load_demo(settings, users=3000, days=90, seed=42, end=END)
    with open_warehouse(settings, read_only=True) as wh:
        yield wh


@pytest.mark.slow
def test_referral_users_pay_best(demo: Warehouse) -> None:
    got = channels(demo, start=START, end=END)
    rates = {row.group: row.paying_rate for row in got.rows}
    assert max(rates, key=lambda g: rates[g] or 0) == "referral"
    assert rates["referral"] is not None and rates["referral"] > 0.35  # 45% on the full demo
    assert min(rates, key=lambda g: rates[g] or 1) == "unknown"  # weak intent converts worst
    assert got.total.new_users == 3000


@pytest.mark.slow
def test_orders_peak_on_the_sale_day(demo: Warehouse) -> None:
    days = revenue(demo, period="day", start=START, end=END).points
    peak = max(days, key=lambda p: p.figures.orders)
    assert peak.date == date(2025, 11, 11)  # 双11
