"""The overview numbers against an independent pandas computation of their definitions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from userops.analytics.overview import overview
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, open_warehouse

TZ = ZoneInfo("Asia/Shanghai")
END = date(2026, 11, 20)


def _dataset(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(seed)
    events, users = [], []
    for u in range(60):
        uid = f"u{u}"
        signup = datetime(2026, 10, 1, tzinfo=TZ) + timedelta(
            days=rng.randint(0, 45), minutes=rng.randint(0, 1439)
        )
        users.append({"user_id": uid, "created_at": signup.isoformat()})
        anon = f"a{u}"
        # anonymous browsing before login, merged by identify
        events.append(
            {
                "type": "track",
                "event": "view_item",
                "user_id": None,
                "anonymous_id": anon,
                "ts": signup - timedelta(minutes=5),
            }
        )
        events.append(
            {"type": "identify", "event": None, "user_id": uid, "anonymous_id": anon, "ts": signup}
        )
        day = signup
        while day.date() <= END + timedelta(days=2):
            if rng.random() < 0.35:
                # right around local midnight, both sides
                minute = rng.choice([-1, 0, 1, 600])
                ts = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(minutes=minute)
                buy = rng.random() < 0.3
                events.append(
                    {
                        "type": "track",
                        "event": "purchase" if buy else "app_open",
                        "user_id": uid,
                        "anonymous_id": None,
                        "ts": ts,
                        "revenue": round(rng.uniform(1, 300), 2) if buy else None,
                    }
                )
            day += timedelta(days=1)
    ev = pd.DataFrame(events)
    ev["message_id"] = [f"m{i}" for i in range(len(ev))]
    ev = pd.concat([ev, ev.sample(20, random_state=seed)])  # duplicates
    ev = ev.sample(frac=1, random_state=seed)  # out of order
    return ev, pd.DataFrame(users)


def _write(ev: pd.DataFrame, us: pd.DataFrame, tmp: Path) -> tuple[Path, Path]:
    out = ev.copy()
    out["timestamp"] = out.ts.map(lambda t: t.isoformat())
    out["properties"] = out.get("revenue").map(
        lambda r: None if pd.isna(r) else f'{{"revenue": {r}}}'
    )
    out = out.drop(columns=["ts", "revenue"])
    out.to_csv(tmp / "events.csv", index=False)
    us.to_csv(tmp / "users.csv", index=False)
    return tmp / "events.csv", tmp / "users.csv"


def _expected(ev: pd.DataFrame, us: pd.DataFrame, days: int) -> pd.DataFrame:
    ev = ev.drop_duplicates("message_id").copy()
    link = ev.dropna(subset=["user_id", "anonymous_id"]).sort_values("ts")
    link = link.drop_duplicates("anonymous_id").set_index("anonymous_id")["user_id"]
    ev["uid"] = ev.user_id.fillna(ev.anonymous_id.map(link)).fillna(ev.anonymous_id)
    ev["day"] = ev.ts.map(lambda t: t.astimezone(TZ).date())
    start = END - timedelta(days=days - 1)
    window = ev[(ev.day >= start) & (ev.day <= END)]
    dau = window.groupby("day").uid.nunique()
    pay = window[window.revenue.fillna(0) > 0]
    payers = pay.groupby("day").uid.nunique()
    revenue = pay.groupby("day").revenue.sum()
    su = us.assign(day=pd.to_datetime(us.created_at).map(lambda t: t.astimezone(TZ).date()))
    new = su.groupby("day").user_id.count()
    first = ev.groupby("uid").day.min()
    active = set(zip(ev.uid, ev.day, strict=True))
    rows = []
    for i in range(days):
        d = start + timedelta(days=i)
        cohort = first[first == d].index
        d7 = None
        if d + timedelta(days=7) <= END and len(cohort):
            d7 = round(sum((u, d + timedelta(days=7)) in active for u in cohort) / len(cohort), 4)
        rows.append(
            {
                "day": d,
                "new": int(new.get(d, 0)),
                "dau": int(dau.get(d, 0)),
                "payers": int(payers.get(d, 0)),
                "revenue": Decimal(str(round(revenue.get(d, 0.0), 2))).quantize(Decimal("0.01")),
                "d7": d7,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_overview_matches_pandas(tmp_path: Path, seed: int) -> None:
    ev, us = _dataset(seed)
    events_csv, users_csv = _write(ev, us, tmp_path)
    settings = Settings(data_dir=tmp_path / "d", timezone="Asia/Shanghai")
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        for kind, path in (("users", users_csv), ("events", events_csv)):
            import_files(wh, kind, [path], quarantine_dir=tmp_path / "q")  # type: ignore[arg-type]
        got = overview(wh, end=END, days=30)
    want = _expected(ev, us, 30)
    assert [p.day for p in got.days] == list(want.day)
    assert [p.new_users for p in got.days] == list(want.new)
    assert [p.active_users for p in got.days] == list(want.dau)
    assert [p.paying_users for p in got.days] == list(want.payers)
    assert [p.revenue for p in got.days] == list(want.revenue)
    assert [p.retained_d7 for p in got.days] == [None if pd.isna(x) else x for x in want.d7]
    assert sum(p.active_users for p in got.days) > 0


def test_empty_warehouse_gives_zero_days(tmp_path: Path) -> None:
    with open_warehouse(Settings(data_dir=tmp_path / "d")) as wh:
        init_warehouse(wh)
        got = overview(wh, end=END, days=7)
    assert len(got.days) == 7
    assert all(p.active_users == 0 and p.retained_d7 is None for p in got.days)
    assert got.totals()["revenue"] == "0.00"
    assert datetime.now(UTC)  # keep imports honest
