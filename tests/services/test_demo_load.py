"""`demo load`: generated files land in the stores whole, and a second load stores nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from userops.services.demo import load_demo, warehouse_is_empty
from userops.settings import Settings
from userops.warehouse.connection import open_warehouse


def test_demo_load_twice(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert warehouse_is_empty(settings)
    first = load_demo(settings, users=300, days=20, seed=3, end=date(2026, 11, 20))
    assert first.users.accepted == 300 and first.events.accepted > 1000
    assert first.events.rejected == first.users.rejected == first.items.rejected == 0
    assert not warehouse_is_empty(settings)
    second = load_demo(settings, users=300, days=20, seed=3, end=date(2026, 11, 20))
    assert second.events.accepted == 0 and second.events.duplicates == first.events.accepted
    assert second.users.accepted == 0 and second.users.duplicates == 300
    with open_warehouse(settings) as wh:
        [(events, linked)] = wh.sql(
            "SELECT count(*), (SELECT count(*) FROM identities) FROM events"
        )
    assert events == first.events.accepted
    assert linked > 0  # pre-signup devices were linked to their users
