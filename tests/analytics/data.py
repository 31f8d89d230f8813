"""A small generated world for the metric tests, and the plain-Python view the references use.

The hard cases are built in on purpose: events a minute before and after local midnight (and a
daylight-saving change when the zone has one), duplicate and out-of-order rows, anonymous events
merged at login (identify, alias, a track carrying both ids), users with a single event, users
with traits but no events, events of users without traits, anonymous visitors who never sign up,
refunds, and properties of every JSON type.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

FIRST_DAY = date(2026, 9, 28)
LAST_DAY = date(2026, 11, 29)
CHANNELS = ["referral", "paid_search", "social", "unknown", None]
CITIES = ["上海", "北京", "广州", None]
GENDERS = ["female", "male", None]
CATEGORIES = ["shoes", "books", "美妆"]


@dataclass
class World:
    """What was generated, deduplicated and resolved the obvious way (no SQL involved)."""

    tz: ZoneInfo
    events: (
        pd.DataFrame
    )  # message_id, type, event, uid, ts (aware), day, revenue (Decimal|None), props
    users: dict[
        str, dict[str, Any]
    ]  # user_id -> traits (channel, city, gender, device_os, created_at)
    costs: list[tuple[date, str, Decimal]] = field(default_factory=list)

    def traits(self, uid: str) -> dict[str, Any]:
        """A user's traits; {} for a uid without a users row (every trait unset)."""
        return self.users.get(uid, {})

    def signup_day(self, uid: str) -> date | None:
        created = self.traits(uid).get("created_at")
        return created.astimezone(self.tz).date() if created is not None else None


def _local(tz: ZoneInfo, day: date, minutes: int) -> datetime:
    """Local midnight of `day` plus `minutes` (wall-clock)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=minutes)


def generate(seed: int, tz: ZoneInfo) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []

    def add(kind: str, event: str | None, ts: datetime, **kw: Any) -> None:
        rows.append({"type": kind, "event": event, "ts": ts, **kw})

    def activity(uid: str, ts: datetime) -> None:
        roll = rng.random()
        category = rng.choice(CATEGORIES)
        if roll < 0.18:
            revenue = f"{rng.randint(100, 30000) / 100:.2f}"
            props: dict[str, Any] = {"revenue": revenue if rng.random() < 0.5 else float(revenue)}
            props["category"] = category
            add("track", "purchase", ts, user_id=uid, props=props)
        elif roll < 0.21:
            add(
                "track", "refund", ts, user_id=uid, props={"revenue": -rng.randint(100, 5000) / 100}
            )
        elif roll < 0.6:
            price = rng.choice([9.9, 65, 129.0])
            props = {"category": category, "price": price, "flag": rng.random() < 0.5}
            add("track", "view_item", ts, user_id=uid, props=props)
        else:
            add("track", "app_open", ts, user_id=uid)

    span = (LAST_DAY - FIRST_DAY).days
    for u in range(90):
        uid, anon = f"u{u}", f"a{u}"
        signup = _local(
            tz, FIRST_DAY + timedelta(days=rng.randint(0, span - 3)), rng.randint(0, 1439)
        )
        kind = rng.random()
        if kind < 0.08:  # a user with a single event and nothing else
            activity(uid, signup)
        else:
            if rng.random() < 0.6:  # anonymous browsing before login, possibly days before
                for _ in range(rng.randint(1, 3)):
                    before = signup - timedelta(minutes=rng.choice([1, 30, 1500, 4000]))
                    add(
                        "track",
                        "view_item",
                        before,
                        anonymous_id=anon,
                        props={"category": rng.choice(CATEGORIES), "price": 65},
                    )
            link = rng.random()
            if link < 0.7:
                add("identify", None, signup, user_id=uid, anonymous_id=anon)
            elif link < 0.85:
                add("alias", None, signup, user_id=uid, previous_id=anon)
            else:
                add("track", "app_open", signup, user_id=uid, anonymous_id=anon)
            habit = rng.choice([0.1, 0.3, 0.6])
            lifetime = rng.choice([2, 10, 40, 80])
            day = signup.date()
            while day <= LAST_DAY:
                age = (day - signup.date()).days
                chance = habit if age <= lifetime else habit / 8
                if rng.random() < chance:
                    minute = rng.choice([-1, 0, 1, 1439, 600, 1])
                    activity(uid, _local(tz, day, minute))
                day += timedelta(days=1)
        if rng.random() < 0.85:  # the rest have events but no users row
            users.append(
                {
                    "user_id": uid,
                    "created_at": signup.isoformat(),
                    "channel": rng.choice(CHANNELS),
                    "city": rng.choice(CITIES),
                    "gender": rng.choice(GENDERS),
                    "device_os": rng.choice(["iOS", "Android", None]),
                }
            )
    for v in range(12):  # anonymous visitors who never sign up
        for _ in range(rng.randint(1, 4)):
            ts = _local(
                tz, FIRST_DAY + timedelta(days=rng.randint(0, span)), rng.choice([-1, 1, 700])
            )
            add(
                "track",
                "view_item",
                ts,
                anonymous_id=f"v{v}",
                props={"category": "books", "price": 9.9},
            )
    for n in range(5):  # signed up, never seen
        created = _local(tz, FIRST_DAY + timedelta(days=rng.randint(0, span)), 1)
        users.append(
            {
                "user_id": f"n{n}",
                "created_at": created.isoformat(),
                "channel": "referral",
                "city": "上海",
                "gender": None,
                "device_os": None,
            }
        )
    users.append(
        {
            "user_id": "nodate",
            "created_at": None,
            "channel": "social",
            "city": None,
            "gender": "male",
            "device_os": "iOS",
        }
    )
    for i, row in enumerate(rows):
        row["message_id"] = f"m{seed}-{i}"
    rng.shuffle(rows)  # out of order
    rows.extend(rng.sample(rows, 30))  # duplicates, same message id
    return rows, users


def write(
    rows: list[dict[str, Any]], users: list[dict[str, Any]], folder: Path
) -> tuple[Path, Path]:
    events = pd.DataFrame(
        {
            "message_id": [r["message_id"] for r in rows],
            "type": [r["type"] for r in rows],
            "event": [r.get("event") for r in rows],
            "user_id": [r.get("user_id") for r in rows],
            "anonymous_id": [r.get("anonymous_id") for r in rows],
            "previous_id": [r.get("previous_id") for r in rows],
            "timestamp": [r["ts"].isoformat() for r in rows],
            "properties": [
                json.dumps(r["props"], ensure_ascii=False) if r.get("props") else None for r in rows
            ],
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    events.to_csv(folder / "events.csv", index=False)
    pd.DataFrame(users).to_csv(folder / "users.csv", index=False)
    return folder / "events.csv", folder / "users.csv"


def resolve(rows: list[dict[str, Any]], users: list[dict[str, Any]], tz: ZoneInfo) -> World:
    """Dedup by message id; an anonymous id belongs to the first user it was linked to."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["message_id"], r)
    unique = list(seen.values())
    links: dict[str, tuple[datetime, str]] = {}
    for r in unique:
        if r["type"] == "alias":
            anon = r["previous_id"]
        elif r.get("user_id") and r.get("anonymous_id"):
            anon = r["anonymous_id"]
        else:
            continue
        if anon not in links or r["ts"] < links[anon][0]:
            links[anon] = (r["ts"], r["user_id"])
    out = []
    for r in unique:
        anon = r.get("anonymous_id")
        uid = r.get("user_id") or (links[anon][1] if anon in links else None) or anon
        revenue = (r.get("props") or {}).get("revenue")
        out.append(
            {
                "message_id": r["message_id"],
                "type": r["type"],
                "event": r.get("event"),
                "uid": uid,
                "ts": r["ts"],
                "day": r["ts"].astimezone(tz).date(),
                "revenue": None
                if revenue is None
                else Decimal(str(revenue)).quantize(Decimal("0.01")),
                "props": r.get("props") or {},
            }
        )
    traits = {}
    for u in users:
        created = datetime.fromisoformat(u["created_at"]) if u["created_at"] else None
        traits[u["user_id"]] = {
            **{k: v for k, v in u.items() if k != "user_id"},
            "created_at": created,
        }
    return World(tz=tz, events=pd.DataFrame(out), users=traits)
