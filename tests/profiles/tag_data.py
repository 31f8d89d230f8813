"""A generated world for the computed tag tests, with the hard cases built in, and its
reference frames built from the generated rows alone (no SQL).

Hard cases: users who never buy; purchases from a few amounts and counts, so R, F and M tie at
quantile edges; events one second either side of local midnight at the edges that matter (the
end of D, the first day of the 30-day activity window and of the 365-day RFM window, and
after D, which must not count); anonymous browsing merged at login by identify, alias or a
track carrying both ids, and anonymous visitors who never sign in; users without a `users`
row, users without events, a missing signup time, a signup after D; refunds and zero revenue
(not orders); duplicate message ids; invitations with and without invitees, repeated, and
sent anonymously; channels unmapped, empty or missing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from tests.profiles.reference import Frames
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, open_warehouse

TODAY = date(2026, 11, 20)
CHANNELS = ["paid_search", "feed_ads", "social", "referral", "unknown", "mystery", "", None]
DETAILS = ["baidu_sem", "douyin_feed", "invite_link", "", None]
AMOUNTS = ["10.00", "50.00", "99.99", "100.00", "100.00", "300.00", "1000.00"]


@dataclass
class Raw:
    events: list[dict[str, Any]]
    users: list[dict[str, Any]]
    tz: ZoneInfo


def _local(tz: ZoneInfo, day: date, seconds: int = 0) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(seconds=seconds)


def generate(seed: int, tz: ZoneInfo, people: int = 140) -> Raw:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []

    def add(kind: str, name: str | None, ts: datetime, **kw: Any) -> None:
        events.append({"type": kind, "event": name, "ts": ts, **kw})

    # instants the definitions cut at (local midnights of D + 1, window starts), +/- 1 second
    edges = [
        _local(tz, TODAY, 86399),  # the last second of D: counts
        _local(tz, TODAY + timedelta(days=1)),  # the first second after D: never counts
        _local(tz, TODAY - timedelta(days=29)),  # first second of the 30-day window
        _local(tz, TODAY - timedelta(days=29), -1),  # just before it
        _local(tz, TODAY - timedelta(days=364)),  # first second of the 365-day window
        _local(tz, TODAY - timedelta(days=364), -1),
        _local(tz, TODAY - timedelta(days=89), -1),  # churn and dormancy edges
        _local(tz, TODAY - timedelta(days=90)),
    ]

    def when(span: int = 420) -> datetime:
        if rng.random() < 0.3:
            return rng.choice(edges)
        day = TODAY - timedelta(days=rng.randint(-3, span))
        return _local(tz, day, rng.choice([0, 1, 3600, 43200, 86399, rng.randint(0, 86399)]))

    for u in range(people):
        uid, anon = f"u{u:03d}", f"a{u:03d}"
        signup = _local(tz, TODAY - timedelta(days=rng.randint(-2, 500)), rng.randint(0, 86399))
        if u % 9 == 0:  # anonymous browsing first, merged at login in one of three ways
            for _ in range(rng.randint(1, 4)):
                add("track", "view_item", when(), anonymous_id=anon)
            link = u % 3
            at = when()
            if link == 0:
                add("identify", None, at, user_id=uid, anonymous_id=anon)
            elif link == 1:
                add("alias", None, at, user_id=uid, previous_id=anon)
            else:
                add("track", "app_open", at, user_id=uid, anonymous_id=anon)
        habit = rng.choice([0, 0, 1, 3, 8, 20])
        for _ in range(habit):
            add("track", rng.choice(["app_open", "view_item", "search"]), when(), user_id=uid)
        if u % 10 == 7:  # a regular: active on many of the last 30 days
            for back in rng.sample(range(0, 32), rng.randint(8, 20)):
                add("track", "app_open", _local(tz, TODAY - timedelta(days=back), 60), user_id=uid)
        buys = rng.choice([0, 0, 0, 1, 1, 2, 3, 5])
        for _ in range(buys):
            props = {"revenue": rng.choice(AMOUNTS), "order_id": f"o{len(events)}"}
            add("track", "purchase", when(), user_id=uid, props=props)
        if u % 11 == 4:
            add("track", "refund", when(), user_id=uid, props={"revenue": "-50.00"})
            add("track", "purchase", when(), user_id=uid, props={"revenue": "0"})
        if u % 7 == 2:  # invitations, some naming who joined
            for _ in range(rng.randint(1, 5)):
                invitee = rng.choice([f"u{rng.randint(0, people - 1):03d}", "u001", "", None])
                props = {"method": "invite_link"} | ({"invitee": invitee} if invitee else {})
                add("track", "invite", when(), user_id=uid, props=props)
        if u % 13 == 6:  # sent before login: nobody's invitation
            add("track", "invite", when(), anonymous_id=anon, props={"invitee": "u002"})
        if u % 17 == 8:  # only after D
            add("track", "purchase", _local(tz, TODAY + timedelta(days=2)), user_id=uid,
                props={"revenue": "100.00"})  # fmt: skip
        if u % 6 != 5:  # the rest have no users row
            users.append(
                {
                    "user_id": uid,
                    "created_at": None if u % 23 == 3 else signup.isoformat(),
                    "channel": rng.choice(CHANNELS),
                    "register_source_detail": rng.choice(DETAILS),
                    "phone": f"138{u:08d}" if u % 5 == 0 else None,
                    "email": f"User.{uid}@Example.com" if u % 4 == 0 else None,
                }
            )
    for v in range(10):  # anonymous visitors who never sign in
        for _ in range(rng.randint(1, 3)):
            add("track", "view_item", when(), anonymous_id=f"visitor{v}")
    for n in range(4):  # signed up, never seen (one after D)
        users.append(
            {
                "user_id": f"n{n}",
                "created_at": _local(tz, TODAY - timedelta(days=[0, 40, 200, -1][n])).isoformat(),
                "channel": "referral",
                "register_source_detail": None,
            }
        )
    for i, row in enumerate(events):
        row["message_id"] = f"m{seed}-{i}"
    rng.shuffle(events)
    events.extend(rng.sample(events, 25))  # duplicates: the same message id again
    return Raw(events, users, tz)


def write(raw: Raw, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    events = pd.DataFrame(
        {
            "message_id": [r["message_id"] for r in raw.events],
            "type": [r["type"] for r in raw.events],
            "event": [r.get("event") for r in raw.events],
            "user_id": [r.get("user_id") for r in raw.events],
            "anonymous_id": [r.get("anonymous_id") for r in raw.events],
            "previous_id": [r.get("previous_id") for r in raw.events],
            "timestamp": [r["ts"].isoformat() for r in raw.events],
            "properties": [json.dumps(r["props"]) if r.get("props") else None for r in raw.events],
        }
    )
    events.to_csv(folder / "events.csv", index=False)
    pd.DataFrame(raw.users).to_csv(folder / "users.csv", index=False)
    return folder / "events.csv", folder / "users.csv"


def load(raw: Raw, folder: Path) -> Settings:
    """A DuckDB warehouse holding `raw`, loaded by the normal import."""
    events_csv, users_csv = write(raw, folder / "files")
    settings = Settings(data_dir=folder / "data", timezone=raw.tz.key)
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        for kind, path in (("users", users_csv), ("events", events_csv)):
            summary = import_files(wh, kind, [path], quarantine_dir=folder / "q")  # type: ignore[arg-type]
            assert summary.rejected == 0, summary
    return settings


def frames(raw: Raw, today: date = TODAY) -> Frames:
    """The reference's input, from the generated rows: deduplicated by message id, each
    anonymous id linked to the first user it was seen with."""
    unique: dict[str, dict[str, Any]] = {}
    for r in raw.events:
        unique.setdefault(r["message_id"], r)
    links: dict[str, tuple[datetime, str]] = {}
    for r in unique.values():
        anon = r.get("previous_id") if r["type"] == "alias" else r.get("anonymous_id")
        if anon and r.get("user_id") and (anon not in links or r["ts"] < links[anon][0]):
            links[anon] = (r["ts"], r["user_id"])
    rows = []
    for r in unique.values():
        props = r.get("props") or {}
        revenue = props.get("revenue")
        rows.append(
            {
                "message_id": r["message_id"],
                "type": r["type"],
                "event": r.get("event"),
                "user_id": r.get("user_id"),
                "anonymous_id": r.get("anonymous_id"),
                "ts": r["ts"].astimezone(UTC),
                "revenue_cents": None if revenue is None else int(Decimal(revenue) * 100),
                "invitee": props.get("invitee"),
            }
        )
    events = pd.DataFrame(rows)
    events["ts"] = pd.to_datetime(events.ts, utc=True)
    events["revenue_cents"] = events.revenue_cents.astype("Int64")
    identities = pd.DataFrame(
        [(a, u) for a, (_, u) in links.items()], columns=["anonymous_id", "user_id"]
    )
    users = pd.DataFrame(raw.users)
    users["created_at"] = pd.to_datetime(users.created_at, utc=True, format="ISO8601")
    users = users.rename(columns={"register_source_detail": "source_detail"})
    users["channel"] = users.channel.replace("", None)
    return Frames(events, identities, users, raw.tz, today)
