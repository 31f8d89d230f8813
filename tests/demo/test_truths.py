"""The planted truths of docs/demo-data.md hold on a mid-size run, measured from the files."""

from __future__ import annotations

from collections.abc import Callable

from tests.demo.conftest import END
from userops.demo import DemoFiles
from userops.demo.truths import measure


def test_planted_truths(make_demo: Callable[..., DemoFiles]) -> None:
    files = make_demo(users=6_000, days=60, seed=1)
    truths = measure(files.events_path.parent, end=END.isoformat())

    paying = sorted(truths.paying_rate_by_channel.items(), key=lambda kv: -kv[1])
    (best, best_rate), (_, second_rate) = paying[0], paying[1]
    assert best == "referral"
    assert best_rate > 1.4 * second_rate
    assert paying[-1][0] in {"unknown", "feed_ads"}

    assert truths.churn_cohort > 2_000
    assert truths.churn_rate_others > 0.75
    assert truths.churn_rate_early_buyers < 0.35
    assert truths.churn_rate_others > 3 * truths.churn_rate_early_buyers
    assert 0.2 < truths.early_buyer_share < 0.4

    assert truths.sale_day == "2025-11-11"
    assert truths.sale_day_purchases_ratio > 3
    assert truths.weekend_dau_ratio > 1.1
    assert 0.5 < truths.users_with_anonymous_history < 0.85
