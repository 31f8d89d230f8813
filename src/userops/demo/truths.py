"""Measuring the planted truths back from the written files, the way an analyst would.

docs/demo-data.md quotes these numbers for the default data set; the tests check that they
still hold, and later analyses (channel comparison, churn models) can be checked against them.
Only pandas on the files: no knowledge of the simulation's hidden traits is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CHURN_MIN_AGE_DAYS = 28
CHURN_QUIET_DAYS = 14
EARLY_DAYS = 7


@dataclass(frozen=True, slots=True)
class Truths:
    paying_rate_by_channel: dict[str, float]  # share of users with at least one purchase
    churn_rate_early_buyers: float  # carted or bought in their first 7 days
    churn_rate_others: float
    churn_cohort: int  # users old enough to judge churn
    early_buyer_share: float
    sale_day: str
    sale_day_purchases_ratio: float  # purchases on the sale day / median day
    weekend_dau_ratio: float  # mean DAU Sat+Sun / mean DAU Mon-Fri
    users_with_anonymous_history: float  # share with anonymous events before signup


def read_table(path: Path) -> pd.DataFrame:
    """Any of the three formats, timestamps as UTC."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return pd.read_json(path, lines=True, dtype=False)


def measure(folder: Path, *, end: str, tz: str = "Asia/Shanghai") -> Truths:
    """The truths of a generated folder; `end` is the last local day of the window."""
    ext = next(p.suffix for p in folder.glob("events.*") if p.suffix != ".tmp")
    users = read_table(folder / f"users{ext}")
    events = read_table(folder / f"events{ext}")
    users["created_at"] = pd.to_datetime(users["created_at"], utc=True, format="ISO8601")
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True, format="ISO8601")
    events["day"] = events["timestamp"].dt.tz_convert(tz).dt.date
    end_day = pd.Timestamp(end).date()

    purchases = events[events["event"] == "purchase"]
    users["paid"] = users["user_id"].isin(purchases["user_id"])
    paying = users.groupby("channel")["paid"].mean().sort_values(ascending=False)

    signed = events.dropna(subset=["user_id"]).merge(users[["user_id", "created_at"]], on="user_id")
    age = signed["timestamp"] - signed["created_at"]
    early = signed[
        signed["event"].isin(["add_to_cart", "purchase"]) & (age < pd.Timedelta(days=EARLY_DAYS))
    ]
    window_end = pd.Timestamp(end_day + pd.Timedelta(days=1), tz=tz)
    cohort = users[users["created_at"] <= window_end - pd.Timedelta(days=CHURN_MIN_AGE_DAYS)].copy()
    quiet_from = (window_end - pd.Timedelta(days=CHURN_QUIET_DAYS)).tz_convert("UTC")
    recent = signed.loc[signed["timestamp"] >= quiet_from, "user_id"]
    cohort["early"] = cohort["user_id"].isin(early["user_id"])
    cohort["churned"] = ~cohort["user_id"].isin(recent)
    churn = cohort.groupby("early")["churned"].mean()

    per_day = purchases.groupby("day").size()
    sale_day = per_day.idxmax()
    dau = signed.groupby("day")["user_id"].nunique()
    weekend = pd.Series([d.weekday() >= 5 for d in dau.index], index=dau.index)

    anonymous = events[events["user_id"].isna()]
    identify = events[events["type"] == "identify"][["user_id", "anonymous_id", "timestamp"]]
    first_anon = anonymous.groupby("anonymous_id")["timestamp"].min().rename("first_anon")
    linked = identify.join(first_anon, on="anonymous_id")
    had_history = (linked["first_anon"] < linked["timestamp"]).mean()

    return Truths(
        paying_rate_by_channel={str(k): round(float(v), 4) for k, v in paying.items()},
        churn_rate_early_buyers=round(float(churn.get(True, float("nan"))), 4),
        churn_rate_others=round(float(churn.get(False, float("nan"))), 4),
        churn_cohort=len(cohort),
        early_buyer_share=round(float(cohort["early"].mean()), 4),
        sale_day=str(sale_day),
        sale_day_purchases_ratio=round(float(per_day.max() / per_day.median()), 2),
        weekend_dau_ratio=round(float(dau[weekend].mean() / dau[~weekend].mean()), 3),
        users_with_anonymous_history=round(float(had_history), 4),
    )
