"""Generated data sets with the hard cases of event analytics, shared by the funnel tests and the
conformance suite.

`hard_events(seed)` makes a few dozen users whose events sit where metrics go wrong: a minute
either side of local midnight at the range's edges, exactly at and just past a window's end,
several at the very same instant (same and different names), anonymous events merged by a later
identify, anonymous visitors who never log in, users with one event, duplicate rows (same
message_id), rows out of order, and users without a `users` row. Times are whole seconds in
Asia/Shanghai. `load_duckdb` imports a data set through the normal CSV import.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, open_warehouse

TZ = ZoneInfo("Asia/Shanghai")
START = date(2026, 11, 10)  # the range the tests ask about
END = date(2026, 11, 16)
NAMES = ("open", "view", "view", "view", "cart", "cart", "buy", "share")
GAPS = (0, 0, 1, 30, 59, 300, 1800, 3600, 3 * 3600, 20 * 3600, 2 * 86400, 4 * 86400)


@dataclass(frozen=True)
class Dataset:
    events: pd.DataFrame  # message_id, type, event, user_id, anonymous_id, ts, properties (dict)
    users: pd.DataFrame  # user_id, created_at, channel, city


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def _start_time(rng: random.Random) -> datetime:
    day = START + timedelta(days=rng.randint(-2, (END - START).days + 2))
    if rng.random() < 0.35:  # right around local midnight, both sides
        return _midnight(day) + timedelta(minutes=rng.choice([-1, 0, 1]))
    return _midnight(day) + timedelta(minutes=rng.randint(0, 1439))


def hard_events(seed: int, users: int = 70) -> Dataset:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    people: list[dict[str, object]] = []

    def add(kind: str, name: str | None, uid: str | None, anon: str | None, ts: datetime) -> None:
        props = None
        if name is not None:
            props = {
                "category": rng.choice(["phone", "book"]),
                "price": rng.choice([5, 50, 500]),
            }
        rows.append(
            {
                "message_id": f"m{seed}-{len(rows)}",
                "type": kind,
                "event": name,
                "user_id": uid,
                "anonymous_id": anon,
                "ts": ts,
                "properties": props,
            }
        )

    for u in range(users):
        uid, anon = f"u{u:02d}", f"a{u:02d}"
        never_logs_in = u % 11 == 5
        anonymous_first = u % 3 == 0 and not never_logs_in
        count = 1 if u % 10 == 0 else rng.randint(2, 14)
        ts = _start_time(rng)
        logged_in_at = rng.randint(1, max(count - 1, 1)) if anonymous_first else 0
        for i in range(count):
            if i:
                ts = ts + timedelta(seconds=rng.choice(GAPS))
            if anonymous_first and i == logged_in_at:
                add("identify", None, uid, anon, ts)
            anonymous = never_logs_in or (anonymous_first and i < logged_in_at)
            name = rng.choice(NAMES)
            add("track", name, None if anonymous else uid, anon if anonymous else None, ts)
            if u % 5 == 1 and rng.random() < 0.3:  # the same event twice at the same instant
                add("track", name, None if anonymous else uid, anon if anonymous else None, ts)
            if rng.random() < 0.15:  # another event at the same instant
                other = rng.choice(NAMES)
                add("track", other, None if anonymous else uid, anon if anonymous else None, ts)
        if u % 7 == 3:  # exactly at a 1-hour window's end, and one second past it
            first = _midnight(START) + timedelta(hours=rng.randint(1, 20))
            add("track", "open", uid, None, first)
            add("track", "view", uid, None, first + timedelta(hours=1))
            add("track", "cart", uid, None, first + timedelta(hours=1, seconds=1))
        if not never_logs_in and u % 4 != 0:  # some users have no users row
            people.append(
                {
                    "user_id": uid,
                    "created_at": (_midnight(START) - timedelta(days=u % 5)).isoformat(),
                    "channel": rng.choice(["ads", "social", "referral", None]),
                    "city": rng.choice(["北京", "上海", None]),
                }
            )
    events = pd.DataFrame(rows)
    events = pd.concat([events, events.sample(15, random_state=seed)])  # duplicate rows
    events = events.sample(frac=1, random_state=seed).reset_index(drop=True)  # out of order
    return Dataset(events, pd.DataFrame(people))


def write_files(data: Dataset, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = data.events.copy()
    out["timestamp"] = out.ts.map(lambda t: t.isoformat())
    out["properties"] = out.properties.map(lambda p: None if p is None else json.dumps(p))
    out = out.drop(columns=["ts"])
    events_csv, users_csv = folder / "events.csv", folder / "users.csv"
    out.to_csv(events_csv, index=False)
    data.users.to_csv(users_csv, index=False)
    return events_csv, users_csv


def load_duckdb(data: Dataset, folder: Path) -> Settings:
    """A DuckDB warehouse under `folder` holding `data`, loaded by the normal import."""
    events_csv, users_csv = write_files(data, folder / "files")
    settings = Settings(data_dir=folder / "data", timezone="Asia/Shanghai")
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        for kind, path in (("users", users_csv), ("events", events_csv)):
            summary = import_files(wh, kind, [path], quarantine_dir=folder / "q")  # type: ignore[arg-type]
            assert summary.rejected == 0, summary
    return settings
