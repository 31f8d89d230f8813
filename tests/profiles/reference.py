"""The computed tags of docs/models.md in plain pandas: the independent reference the tests
compare the Ibis models against, and the straightforward baseline of `bench/bench_tags.py`.

Input frames (no userops code involved):

- `events`: message_id, type, event, user_id, anonymous_id, ts (aware UTC), revenue_cents
  (integer cents or missing), invitee (text or missing), one row per message id;
- `identities`: anonymous_id, user_id (the first link of each anonymous id);
- `users`: user_id, created_at (aware UTC or missing), channel, source_detail.

Every tag comes back as a DataFrame indexed by user_id with columns value (str) and number
(float or NaN). Money is summed in integer cents, so ties are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

GROUPS = {
    (True, True, True): "important_value",
    (True, False, True): "important_develop",
    (False, True, True): "important_keep",
    (False, False, True): "important_winback",
    (True, True, False): "general_value",
    (True, False, False): "general_develop",
    (False, True, False): "general_keep",
    (False, False, False): "general_winback",
}


@dataclass
class Frames:
    events: pd.DataFrame
    identities: pd.DataFrame
    users: pd.DataFrame
    tz: ZoneInfo
    today: date

    @property
    def end(self) -> pd.Timestamp:
        return _start(self.tz, self.today + timedelta(days=1))

    def start_of(self, days: int) -> pd.Timestamp:
        """First instant of the window of `days` local days ending on today."""
        return _start(self.tz, self.today - timedelta(days=days - 1))


def _start(tz: ZoneInfo, day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(0), tzinfo=tz)).tz_convert("UTC")


def _days_before(frames: Frames, ts: pd.Series) -> pd.Series:
    """Local days from each instant's local day to today."""
    local = ts.dt.tz_convert(frames.tz).dt.normalize()
    today = pd.Timestamp(frames.today).tz_localize(frames.tz)
    return (today - local).dt.days


def resolved(frames: Frames) -> pd.DataFrame:
    """Events before the end of today, each with `uid`: user_id, else the user its anonymous id
    is linked to, else the anonymous id."""
    ev = frames.events[frames.events.ts < frames.end]
    links = frames.identities.rename(columns={"user_id": "linked"})
    ev = ev.merge(links, on="anonymous_id", how="left")
    ev["uid"] = ev.user_id.fillna(ev.linked).fillna(ev.anonymous_id)
    return ev


def known_users(frames: Frames, ev: pd.DataFrame) -> pd.DataFrame:
    """The known users as of today, indexed by user_id, with created_at and channel."""
    users = frames.users
    users = users[users.created_at.isna() | (users.created_at < frames.end)]
    has_id = ev[ev.user_id.notna()].uid.unique()
    linked = set(frames.identities.user_id)
    from_events = pd.Index(ev.uid.unique())
    from_events = from_events[from_events.isin(has_id) | from_events.isin(linked)]
    ids = pd.Index(users.user_id).union(from_events)
    out = pd.DataFrame(index=ids.rename("user_id"))
    traits = users.set_index("user_id")
    out["created_at"] = traits.created_at.reindex(out.index)
    out["channel"] = traits.channel.reindex(out.index)
    return out


def _rows(value: pd.Series, number: pd.Series | None = None) -> pd.DataFrame:
    out = pd.DataFrame({"value": value.astype(str)})
    out["number"] = number.astype(float) if number is not None else np.nan
    out.index.name = "user_id"
    return out


# -- RFM -----------------------------------------------------------------------------------------


def rfm(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame, p: Mapping[str, Any]) -> dict:
    days = p["lookback_days"]
    orders = ev[
        (ev.revenue_cents > 0) & (ev.ts >= frames.start_of(days)) & ev.uid.isin(known.index)
    ]
    per = orders.groupby("uid").agg(
        last=("ts", "max"), frequency=("ts", "size"), monetary=("revenue_cents", "sum")
    )
    per["recency"] = _days_before(frames, per["last"])
    n = len(per)
    if p["scoring"] == "quantile":
        below = {
            "r": per.recency.rank(method="min", ascending=False) - 1,
            "f": per.frequency.rank(method="min") - 1,
            "m": per.monetary.rank(method="min") - 1,
        }
        scores = {k: 1 + (5 * v.astype("int64")) // n for k, v in below.items()}
    else:
        cents = [int(Decimal(str(e)) * 100) for e in p["monetary_edges"]]
        scores = {
            "r": 5 - sum((per.recency > e).astype(int) for e in p["recency_edges"]),
            "f": 1 + sum((per.frequency >= e).astype(int) for e in p["frequency_edges"]),
            "m": 1 + sum((per.monetary >= c).astype(int) for c in cents),
        }
    if p["compare"] == "mean":
        high = {k: s * n > s.sum() for k, s in scores.items()}
    else:
        high = {k: s >= p[f"{k}_cut"] for k, s in scores.items()}
    group = pd.Series(
        [
            GROUPS[(bool(r), bool(f), bool(m))]
            for r, f, m in zip(high["r"], high["f"], high["m"], strict=True)
        ],
        index=per.index,
        dtype=object,
    )
    out = {"group": _rows(group)}
    for k in ("r", "f", "m"):
        out[k] = _rows(scores[k], scores[k])
    return out


# -- lifecycle -----------------------------------------------------------------------------------


def lifecycle(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame, p: Mapping[str, Any]):
    per = (
        ev.assign(paid=ev.revenue_cents > 0)
        .groupby("uid")
        .agg(first=("ts", "min"), last=("ts", "max"), orders=("paid", "sum"))
    )
    t = known.join(per, how="left")
    t["orders"] = t.orders.fillna(0)
    t["last_seen"] = t[["last", "created_at"]].max(axis=1)
    t["signup"] = t.created_at.fillna(t["first"])
    t = t[t.last_seen.notna()]
    inactive = _days_before(frames, t.last_seen)
    age = _days_before(frames, t.signup)
    mature = t.orders >= p["mature_orders"]
    if p["mature_age_days"]:
        mature = mature | (age >= p["mature_age_days"])
    stage = np.select(
        [
            inactive >= p["churn_days"],
            inactive >= p["dormant_days"],
            t.orders == 0,
            mature,
        ],
        ["churn", "dormancy", "introduction", "maturity"],
        default="growth",
    )
    return _rows(pd.Series(stage, index=t.index))


# -- value grade -----------------------------------------------------------------------------------


def grade(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame, p: Mapping[str, Any]):
    window = ev[ev.ts >= frames.start_of(p["lookback_days"])]
    measure = p["measure"]
    if measure == "revenue":
        paid = window[window.revenue_cents > 0]
        score = paid.groupby("uid").revenue_cents.sum() / 100
    elif measure == "orders":
        score = window[window.revenue_cents > 0].groupby("uid").size()
    elif measure == "events":
        score = window[window.event == p["event"]].groupby("uid").size()
    else:
        days = window.ts.dt.tz_convert(frames.tz).dt.normalize()
        score = window.assign(day=days).groupby("uid").day.nunique()
    score = score.reindex(known.index).fillna(0)
    if p["method"] == "thresholds":
        limits = [float(t) for t in p["thresholds"]]
        grades = np.select([score >= t for t in limits], list("SABC"), default="D")
    else:
        positive = score[score > 0]
        n = len(positive)
        above = positive.rank(method="min", ascending=False) - 1
        cumulative = np.cumsum(p["shares"][:4])
        grades_pos = np.select([above * 100 < c * n for c in cumulative], list("SABC"), "D")
        grades = pd.Series("D", index=score.index, dtype=object)
        grades[positive.index] = grades_pos
    return _rows(pd.Series(grades, index=score.index), score)


# -- intent, activity ------------------------------------------------------------------------------


def intent(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame, p: Mapping[str, Any]):
    level = known.channel.map(p["mapping"]).fillna(p["default"])
    return _rows(level)


def activity(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame, p: Mapping[str, Any]):
    window = ev[ev.ts >= frames.start_of(p["window_days"])]
    days = window.assign(day=window.ts.dt.tz_convert(frames.tz).dt.normalize())
    active = days.groupby("uid").day.nunique().reindex(known.index).fillna(0).astype(int)
    level = np.select(
        [active >= p["high_days"], active >= p["medium_days"], active >= 1],
        ["high", "medium", "low"],
        default="silent",
    )
    return _rows(pd.Series(level, index=known.index), active)


# -- join path and self-propagation ----------------------------------------------------------------


def spread(frames: Frames, ev: pd.DataFrame, known: pd.DataFrame) -> dict[str, pd.DataFrame]:
    users = frames.users
    users = users[users.created_at.isna() | (users.created_at < frames.end)]
    channel = users.channel.where(users.channel != "")
    detail = users.source_detail.where(users.source_detail != "")
    path = (channel + "/" + detail).fillna(channel).fillna(detail)
    path = pd.Series(path.values, index=users.user_id).dropna()
    sent = frames.events[
        (frames.events.event == "invite")
        & frames.events.user_id.notna()
        & (frames.events.ts < frames.end)
    ]
    invites = sent.groupby("user_id").size().reindex(known.index).fillna(0).astype(int)
    invitees = (
        sent[sent.invitee.notna() & (sent.invitee != "")]
        .groupby("user_id")
        .invitee.nunique()
        .reindex(known.index)
        .fillna(0)
        .astype(int)
    )
    level = np.select([invitees >= 3, invitees >= 1], ["strong", "some"], default="none")
    return {
        "join_path": _rows(path),
        "invites": _rows(invites, invites),
        "invitees": _rows(invitees, invitees),
        "self_propagation": _rows(pd.Series(level, index=known.index)),
    }


# -- everything ------------------------------------------------------------------------------


def builtin_tags(
    frames: Frames, params: Mapping[str, Mapping[str, Any]]
) -> dict[str, pd.DataFrame]:
    """Every built-in warehouse tag (code -> rows); `params` by model (rfm, lifecycle, ...)."""
    ev = resolved(frames)
    known = known_users(frames, ev)
    r = rfm(frames, ev, known, params["rfm"])
    s = spread(frames, ev, known)
    return {
        "rfm_group": r["group"],
        "rfm_r": r["r"],
        "rfm_f": r["f"],
        "rfm_m": r["m"],
        "lifecycle_stage": lifecycle(frames, ev, known, params["lifecycle"]),
        "value_grade": grade(frames, ev, known, params["grade"]),
        "intent_level": intent(frames, ev, known, params["intent"]),
        "activity_level": activity(frames, ev, known, params["activity"]),
        "member_join_path": s["join_path"],
        "member_invites": s["invites"],
        "member_invitees": s["invitees"],
        "member_self_propagation": s["self_propagation"],
    }


def as_dict(rows: pd.DataFrame) -> dict[str, tuple[str, float | None]]:
    """user_id -> (value, number) with NaN as None, for comparisons."""
    return {
        str(uid): (str(v), None if pd.isna(n) else float(n))
        for uid, v, n in zip(rows.index, rows.value, rows.number, strict=True)
    }
