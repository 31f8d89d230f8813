"""The generated world, loaded once per worker and time zone into its own warehouse."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.analytics.data import FIRST_DAY, LAST_DAY, World, generate, resolve, write
from userops.analytics.costs import import_costs
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

# Shanghai has no daylight saving; Los Angeles leaves it on 2026-11-01, inside the data.
ZONES = [("Asia/Shanghai", 1), ("America/Los_Angeles", 2)]


@dataclass
class Loaded:
    wh: Warehouse
    world: World
    settings: Settings


def _costs(seed: int, folder: Path) -> tuple[Path, list[tuple[date, str, Decimal]]]:
    rows = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        for i, channel in enumerate(("referral", "paid_search", "social")):
            if channel != "referral" or day.day % 3 == 0:
                rows.append(
                    (day, channel, Decimal(f"{(seed * 7 + day.day * 13 + i * 31) % 500}.25"))
                )
        day += timedelta(days=1)
    path = folder / "costs.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["date", "channel", "amount", "currency"])
        writer.writerows([(d.isoformat(), c, str(a), "CNY") for d, c, a in rows])
    return path, rows


@pytest.fixture(scope="session", params=ZONES, ids=[z for z, _ in ZONES])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    zone, seed = request.param
    folder = tmp_path_factory.mktemp(f"world-{seed}")
    rows, users = generate(seed, ZoneInfo(zone))
    events_csv, users_csv = write(rows, users, folder)
    settings = Settings(data_dir=folder / "data", timezone=zone)
    wh = open_warehouse(settings)
    init_warehouse(wh)
    import_files(wh, "users", [users_csv], quarantine_dir=folder / "q")
    summary = import_files(wh, "events", [events_csv], quarantine_dir=folder / "q")
    assert summary.rejected == 0, summary
    costs_csv, costs = _costs(seed, folder)
    import_costs(wh, costs_csv)
    world = resolve(rows, users, ZoneInfo(zone))
    world.costs = costs
    try:
        yield Loaded(wh, world, settings)
    finally:
        wh.close()


@pytest.fixture(scope="session")
def empty_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = open_warehouse(Settings(data_dir=tmp_path_factory.mktemp("empty")))
    init_warehouse(wh)
    try:
        yield wh
    finally:
        wh.close()
