"""The baselines of the analytics benchmark: each metric as a competent analyst writes it, once in
pandas and once as hand-written DuckDB SQL over the raw `events` and `identities` tables.

Both follow docs/metrics.md and docs/funnels.md to the letter, so they compute the same numbers
as userops (the benchmark asserts it): a user is `coalesce(user_id, identities.user_id,
anonymous_id)`, days are local days of Asia/Shanghai, a funnel step is the first matching event
at or after the previous step (a later instant when the same event name filled an earlier step
at that instant), within the window of step 1.

- pandas starts from DataFrames already in memory (`load_frames`: events' event, user_id,
  anonymous_id, timestamp and the identities, as `.df()` gives them, `event` made categorical);
  the load is timed apart and not counted. Idioms are the fast ones: a vectorised local day
  (`tz_convert`, `tz_localize(None)`, `floor("D")`), `merge_asof` for funnel steps.
- SQL is what an analyst types into DuckDB: the identity join, `CAST(timestamp AS DATE)` under the
  session time zone for local days, `GROUP BY`; funnels as a chain of `ASOF LEFT JOIN`s (the
  fastest way to write a funnel in DuckDB; a self-join or window-function version is slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

TZ = "Asia/Shanghai"


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(TZ))


# --- pandas ---------------------------------------------------------------------------------------


def load_frames(db: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, identities) from the warehouse into memory, as an analyst would start."""
    con = duckdb.connect(db, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        events = con.sql("SELECT event, user_id, anonymous_id, timestamp FROM events").df()
        events["event"] = events["event"].astype("category")
        ids = con.sql("SELECT anonymous_id, user_id FROM identities").df()
    finally:
        con.close()
    return events, ids


def _resolved(events: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    linked = ids.rename(columns={"user_id": "linked"})
    ev = events.merge(linked, on="anonymous_id", how="left")
    ev["uid"] = ev["user_id"].fillna(ev["linked"]).fillna(ev["anonymous_id"])
    return ev


def _local_day(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(TZ).dt.tz_localize(None).dt.floor("D")


def pandas_dau(events: pd.DataFrame, ids: pd.DataFrame, start: date, end: date) -> list[int]:
    """Distinct users active on each local day start..end."""
    ev = _resolved(events, ids)
    ev["day"] = _local_day(ev["timestamp"])
    ev = ev[(ev["day"] >= pd.Timestamp(start)) & (ev["day"] <= pd.Timestamp(end))]
    dau = ev.groupby("day")["uid"].nunique()
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    return [int(n) for n in dau.reindex(days, fill_value=0)]


def pandas_retention(
    events: pd.DataFrame, ids: pd.DataFrame, start: date, end: date, periods: int
) -> dict[str, list[int]]:
    """Daily first-activity cohorts of start..end: cohort day -> users active on day k."""
    ev = _resolved(events, ids)
    ev = ev[ev["timestamp"] < local_midnight(end + timedelta(days=1))]
    ev["day"] = _local_day(ev["timestamp"])
    firsts = ev.groupby("uid")["day"].min().rename("cohort")
    active = ev.loc[ev["day"] >= pd.Timestamp(start), ["uid", "day"]].drop_duplicates()
    cells = active.join(firsts, on="uid")
    cells = cells[cells["cohort"] >= pd.Timestamp(start)]
    cells["k"] = (cells["day"] - cells["cohort"]).dt.days
    cells = cells[cells["k"].between(0, periods)]
    counts = cells.groupby(["cohort", "k"]).size()
    return _matrix(
        {(c.date(), int(k)): int(n) for (c, k), n in counts.items()}, start, end, periods
    )


def pandas_funnel(
    events: pd.DataFrame,
    ids: pd.DataFrame,
    steps: Sequence[str],
    start: date,
    end: date,
    window: timedelta,
) -> dict[str, Any]:
    """Users at each step of an ordered funnel, and median seconds between steps."""
    lo, hi = local_midnight(start), local_midnight(end + timedelta(days=1))
    ev = events[events["event"].isin(set(steps))]
    ev = ev[(ev["timestamp"] >= lo) & (ev["timestamp"] < hi + window)]
    ev = _resolved(ev, ids)[["uid", "event", "timestamp"]].sort_values("timestamp")
    first = ev[(ev["event"] == steps[0]) & (ev["timestamp"] < hi)]
    att = first[["uid", "timestamp"]].rename(columns={"timestamp": "t1"}).reset_index(drop=True)
    never = pd.Timestamp("2300-01-01", tz="UTC")
    for k in range(2, len(steps) + 1):
        prev = att[f"t{k - 1}"]
        bound = prev
        same = [j for j in range(1, k) if steps[j - 1] == steps[k - 1]]
        if same:  # one event never fills two steps: a later instant than that step
            tied = (att[f"t{same[-1]}"] == prev).to_numpy()
            bound = prev + pd.to_timedelta(np.where(tied, 1, 0), unit="us")
        att["bound"] = bound.fillna(never)
        found = ev.loc[ev["event"] == steps[k - 1], ["uid", "timestamp"]]
        found = found.rename(columns={"timestamp": f"t{k}"})
        att = pd.merge_asof(
            att.sort_values("bound"),
            found,
            left_on="bound",
            right_on=f"t{k}",
            by="uid",
            direction="forward",
        )
        att[f"t{k}"] = att[f"t{k}"].where(att[f"t{k}"] <= att["t1"] + window)
    n = len(steps)
    att["reached"] = att[[f"t{k}" for k in range(1, n + 1)]].notna().sum(axis=1)
    best = att.sort_values(["uid", "reached", "t1"], ascending=[True, False, True])
    best = best.drop_duplicates("uid")
    counts = [int((best["reached"] >= k).sum()) for k in range(1, n + 1)]
    medians: list[float | None] = [None]
    for k in range(2, n + 1):
        done = best[best["reached"] >= k]
        seconds = (done[f"t{k}"] - done[f"t{k - 1}"]).dt.total_seconds()
        medians.append(round(float(seconds.median()), 3) if len(done) else None)
    return {"counts": counts, "medians": medians}


def _matrix(
    cells: dict[tuple[date, int], int], start: date, end: date, periods: int
) -> dict[str, list[int]]:
    out = {}
    for offset in range((end - start).days + 1):
        cohort = start + timedelta(days=offset)
        reached = min(periods, (end - cohort).days)
        out[cohort.isoformat()] = [cells.get((cohort, k), 0) for k in range(reached + 1)]
    return out


# --- hand-written SQL -----------------------------------------------------------------------------

DAU_SQL = """
SELECT CAST(e.timestamp AS DATE) AS day,
       count(DISTINCT coalesce(e.user_id, i.user_id, e.anonymous_id)) AS users
FROM events e
LEFT JOIN identities i ON i.anonymous_id = e.anonymous_id
WHERE e.timestamp >= ? AND e.timestamp < ?
GROUP BY 1
"""

RETENTION_SQL = """
WITH ev AS (
    SELECT coalesce(e.user_id, i.user_id, e.anonymous_id) AS uid,
           CAST(e.timestamp AS DATE) AS day
    FROM events e
    LEFT JOIN identities i ON i.anonymous_id = e.anonymous_id
    WHERE e.timestamp < ?
),
firsts AS (SELECT uid, min(day) AS cohort FROM ev GROUP BY uid),
active AS (SELECT DISTINCT uid, day FROM ev WHERE day >= ?)
SELECT f.cohort, a.day - f.cohort AS k, count(*) AS users
FROM firsts f
JOIN active a USING (uid)
WHERE f.cohort >= ? AND a.day - f.cohort BETWEEN 0 AND ?
GROUP BY ALL
"""


def sql_connect(db: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(db, read_only=True)
    con.execute(f"SET TimeZone = '{TZ}'")
    return con


def sql_dau(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[int]:
    rows = con.execute(
        DAU_SQL, [local_midnight(start), local_midnight(end + timedelta(days=1))]
    ).fetchall()
    by_day = {day: int(n) for day, n in rows}
    return [by_day.get(start + timedelta(days=d), 0) for d in range((end - start).days + 1)]


def sql_retention(
    con: duckdb.DuckDBPyConnection, start: date, end: date, periods: int
) -> dict[str, list[int]]:
    rows = con.execute(
        RETENTION_SQL, [local_midnight(end + timedelta(days=1)), start, start, periods]
    ).fetchall()
    return _matrix({(c, int(k)): int(n) for c, k, n in rows}, start, end, periods)


def funnel_sql(steps: Sequence[str]) -> str:
    """The as-of chain of an ordered funnel; parameters: the step names (a list), the range's
    first and last instants, the step-1 cutoff, the window (an interval), then step k's name
    for k = 2..n. A stopped attempt's null bound must be tested: DuckDB's ASOF LEFT JOIN
    matches a null bound to the user's earliest row."""
    parts = [
        "WITH ev AS (\n"
        "    SELECT coalesce(e.user_id, i.user_id, e.anonymous_id) AS uid, e.event,\n"
        "           e.timestamp AS ts\n"
        "    FROM events e LEFT JOIN identities i ON i.anonymous_id = e.anonymous_id\n"
        "    WHERE list_contains(?, e.event) AND e.timestamp >= ? AND e.timestamp < ?\n"
        "),\n"
        "a1 AS (SELECT uid, ts AS t1, ?::INTERVAL AS w FROM ev WHERE event = ? AND ts < ?)"
    ]
    for k in range(2, len(steps) + 1):
        same = [j for j in range(1, k) if steps[j - 1] == steps[k - 1]]
        bound = f"a.t{k - 1}"
        if same:
            bound = (
                f"CASE WHEN a.t{same[-1]} = a.t{k - 1} "
                f"THEN a.t{k - 1} + INTERVAL 1 MICROSECOND ELSE a.t{k - 1} END"
            )
        parts.append(
            f"b{k} AS (SELECT a.*, {bound} AS bound FROM a{k - 1} a),\n"
            f"a{k} AS (\n"
            f"    SELECT b.* EXCLUDE (bound),\n"
            f"        CASE WHEN b.bound IS NOT NULL AND m.ts <= b.t1 + b.w THEN m.ts END AS t{k}\n"
            f"    FROM b{k} b ASOF LEFT JOIN (SELECT uid, ts FROM ev WHERE event = ?) m\n"
            f"      ON b.uid = m.uid AND m.ts >= b.bound\n"
            f")"
        )
    n = len(steps)
    reached = " + ".join(f"(t{k} IS NOT NULL)::INT" for k in range(1, n + 1))
    counts = ", ".join(f"count(*) FILTER (WHERE reached >= {k})" for k in range(1, n + 1))
    return (
        ",\n".join(parts)
        + f",\nper_user AS (SELECT uid, max({reached}) AS reached FROM a{n} GROUP BY uid)\n"
        + f"SELECT {counts} FROM per_user"
    )


def sql_funnel(
    con: duckdb.DuckDBPyConnection,
    steps: Sequence[str],
    start: date,
    end: date,
    window: timedelta,
) -> dict[str, Any]:
    lo, hi = local_midnight(start), local_midnight(end + timedelta(days=1))
    params: list[Any] = [list(set(steps)), lo, hi + window, window, steps[0], hi]
    params += list(steps[1:])
    (row,) = con.execute(funnel_sql(steps), params).fetchall()
    return {"counts": [int(n) for n in row]}
