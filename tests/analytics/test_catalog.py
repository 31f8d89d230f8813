"""What the warehouse holds: the local days of its events, event names, trait values and keys."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from tests.analytics.conftest import Loaded
from userops.analytics import catalog
from userops.analytics.catalog import DataDays
from userops.warehouse.connection import Warehouse


def test_data_days_are_the_local_days_of_the_first_and_last_event(loaded: Loaded) -> None:
    days = loaded.world.events["day"]
    assert catalog.data_days(loaded.wh) == DataDays(min(days), max(days))


def test_event_names_most_frequent_first(loaded: Loaded) -> None:
    events = loaded.world.events
    counts = Counter(e for e in events["event"] if isinstance(e, str) and e)
    want = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    assert catalog.event_names(loaded.wh) == want
    assert catalog.event_names(loaded.wh, limit=2) == want[:2]


def test_trait_values_most_common_first(loaded: Loaded) -> None:
    counts = Counter(t.get("city") for t in loaded.world.users.values() if t.get("city"))
    got = catalog.trait_values(loaded.wh, "city")
    assert sorted(got) == sorted(counts)
    assert [counts[c] for c in got] == sorted(counts.values(), reverse=True)
    with pytest.raises(ValueError, match="not one of"):
        catalog.trait_values(loaded.wh, "phone")


def test_custom_trait_keys(loaded: Loaded) -> None:
    assert catalog.custom_trait_keys(loaded.wh) == ["device_os"]


def test_the_last_days_never_start_before_the_data() -> None:
    covered = DataDays(date(2026, 11, 20), date(2026, 11, 30))
    assert covered.last_days(30) == (date(2026, 11, 20), date(2026, 11, 30))
    assert covered.last_days(5) == (date(2026, 11, 26), date(2026, 11, 30))


def test_an_empty_warehouse(empty_wh: Warehouse) -> None:
    assert catalog.data_days(empty_wh) is None
    assert catalog.event_names(empty_wh) == []
    assert catalog.trait_values(empty_wh, "channel") == []
    assert catalog.custom_trait_keys(empty_wh) == []
    assert catalog.default_range(empty_wh, date(2026, 1, 30)) == (
        date(2026, 1, 1),
        date(2026, 1, 30),
    )
