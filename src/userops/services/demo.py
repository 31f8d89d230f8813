"""Load the demo dataset: generate files under the data folder, then import them like any file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from userops.demo import generate_files
from userops.domain.imports import ImportSummary
from userops.ingest.pipeline import Progress
from userops.ingest.service import import_paths
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, warehouse_session


@dataclass(frozen=True, slots=True)
class DemoLoad:
    users: ImportSummary
    items: ImportSummary
    events: ImportSummary

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k).as_dict() for k in ("users", "items", "events")}


def warehouse_is_empty(settings: Settings) -> bool:
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        [(count,)] = wh.sql("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)")
    return int(count) == 0


def load_demo(
    settings: Settings,
    *,
    users: int = 20_000,
    days: int = 90,
    seed: int = 42,
    end: date | None = None,
    progress: Progress | None = None,
) -> DemoLoad:
    step = progress or (lambda _label: None)
    end = end or datetime.now(settings.tz).date()
    out = settings.ensure_data_dir() / "demo"
    step(f"generating {users:,} users x {days} days")
    files = generate_files(out, users=users, days=days, seed=seed, end=end, tz=settings.tz)
    return DemoLoad(
        users=import_paths(settings, "users", [files.users_path], progress=step),
        items=import_paths(settings, "items", [files.items_path], progress=step),
        events=import_paths(settings, "events", [files.events_path], progress=step),
    )
