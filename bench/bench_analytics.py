"""Analytics on the demo events: retention, DAU and funnels against pandas and hand-written SQL.

At each scale (BENCH_ANALYTICS_SCALES, default `10M,50M`; `1M` for a quick run) the demo events
are imported once into a DuckDB warehouse by `userops import` and cached under bench/data. Then
three processes, one after the other, compute the same metrics from that warehouse; each runs
alone on the machine's cores (DuckDB's threads; pandas and NumPy use one), and each reports its
own peak memory, so no side pays for another's:

- **userops**: the public service functions (`retention.retention`, `activity.active_users`,
  `funnels.funnel`) on a read-only `Warehouse`, as the CLI and the server call them. The first
  query of the process builds the event index (`analytics.eventindex`, once per state of the
  warehouse): that query is shown as `cold`; later ones (the server's steady state, and what the
  targets of issue #4 are about) are best of 3.
- **SQL**: hand-written DuckDB SQL over the raw `events` and `identities` tables
  (bench/analytics_baselines.py), best of 2 (1 at 50M and above).
- **pandas**: idiomatic pandas from the events and identities already in memory: the load from
  the warehouse into DataFrames is timed and shown, but not counted, as an analyst loads once and
  explores; best of 2 (1 at 50M and above).

All three must give the same numbers (every cohort cell, every day, every funnel step; medians
too for pandas): the run stops on the first difference, so a fast wrong answer cannot pass.

Targets (issue #4): retention (daily cohorts x 30 days) >= 20x pandas and >= 2x SQL; DAU over
90 days >= 20x pandas; 4-step 7-day funnel >= 10x pandas and >= 1x SQL; 12-step funnel <= 3x
the 4-step one; time at 50M <= 6x the time at 10M; peak memory at 50M < 6 GiB. The table has
the ratios; the lines after it check the targets and say PASS or FAIL.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    DEMO_END,
    Result,
    demo_events,
    load_average,
    run_side,
    timed_cpu,
)

SCALES = os.environ.get("BENCH_ANALYTICS_SCALES", "10M,50M")
END = DEMO_END
START = END - timedelta(days=89)  # the demo's 90 days
PERIODS = 30
FUNNEL_START, FUNNEL_END = date(2026, 9, 1), date(2026, 10, 24)
WINDOW = timedelta(days=7)
FUNNEL_4 = ["app_open", "view_item", "add_to_cart", "purchase"]
FUNNEL_12 = [
    *("app_open", "search", "view_item", "add_to_cart", "view_item", "add_to_cart"),
    *("view_item", "purchase", "share", "app_open", "view_item", "purchase"),
]
METRICS = ("retention", "dau", "funnel4", "funnel12")
GIB = 1024**3


def parse_scale(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * factor)


def warehouse(rows: int) -> Path:
    """A data folder whose warehouse holds exactly `rows` demo events (imported once)."""
    from userops.ingest.service import import_paths
    from userops.settings import Settings

    folder = BENCH_DIR / f"analytics-{rows}"
    done = folder / "imported"
    if done.exists():
        return folder
    path = demo_events(rows)
    if folder.exists():
        for stale in folder.iterdir():
            if stale.is_file():
                stale.unlink()
    print(f"  importing {rows:,} events into {folder} ...", flush=True)
    summary = import_paths(Settings(data_dir=folder), "events", [path])
    assert summary.accepted == rows, summary
    done.write_text(json.dumps(summary.as_dict(), default=str))
    return folder


# --- the three sides, each in its own process -----------------------------------------------------


def _best(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    out: list[Any] = []
    wall, cpu = timed_cpu(lambda: out.append(fn()), repeat)
    return out[-1], wall, cpu


def _userops(folder: Path) -> dict[str, Any]:
    from userops.analytics import eventindex
    from userops.analytics.activity import active_users
    from userops.analytics.funnels import FunnelSpec, funnel
    from userops.analytics.retention import retention
    from userops.settings import Settings
    from userops.warehouse.connection import open_warehouse

    wh = open_warehouse(Settings(data_dir=folder), read_only=True)

    def run_retention() -> dict[str, list[int]]:
        got = retention(wh, period="day", periods=PERIODS, start=START, end=END)
        return {c.cohort.isoformat(): list(c.retained) for c in got.cohorts}

    def run_dau() -> list[int]:
        return [p.active for p in active_users(wh, period="day", start=START, end=END).points]

    def run_funnel(steps: list[str]) -> dict[str, Any]:
        spec = FunnelSpec.of(steps, start=FUNNEL_START, end=FUNNEL_END, window=WINDOW)
        got = funnel(wh, spec)
        return {
            "counts": [s.count for s in got.steps],
            "medians": [s.median_seconds for s in got.steps],
        }

    runs: dict[str, Callable[[], Any]] = {
        "retention": run_retention,
        "dau": run_dau,
        "funnel4": lambda: run_funnel(FUNNEL_4),
        "funnel12": lambda: run_funnel(FUNNEL_12),
    }
    out: dict[str, Any] = {}
    _, wall, cpu = _best(run_retention, 1)
    out["cold"] = {"wall": wall, "cpu": cpu}
    index = eventindex.event_index(wh)
    assert index is not None
    out["index_bytes"] = (
        sum(a.nbytes for a in (index.ukey, index.us, index.code, index.day)) + index.uids.nbytes
    )
    for name, run in runs.items():
        result, wall, cpu = _best(run, 3)
        out[name] = {"wall": wall, "cpu": cpu, "result": result}
    wh.close()
    return out


def _sql(folder: Path, rows: int) -> dict[str, Any]:
    from bench import analytics_baselines as b

    con = b.sql_connect(str(folder / "warehouse.duckdb"))
    runs: dict[str, Callable[[], Any]] = {
        "retention": lambda: b.sql_retention(con, START, END, PERIODS),
        "dau": lambda: b.sql_dau(con, START, END),
        "funnel4": lambda: b.sql_funnel(con, FUNNEL_4, FUNNEL_START, FUNNEL_END, WINDOW),
        "funnel12": lambda: b.sql_funnel(con, FUNNEL_12, FUNNEL_START, FUNNEL_END, WINDOW),
    }
    out: dict[str, Any] = {}
    for name, run in runs.items():
        result, wall, cpu = _best(run, 1 if rows >= 50_000_000 else 2)
        out[name] = {"wall": wall, "cpu": cpu, "result": result}
    con.close()
    return out


def _pandas(folder: Path, rows: int) -> dict[str, Any]:
    from bench import analytics_baselines as b

    start = time.perf_counter()
    events, ids = b.load_frames(str(folder / "warehouse.duckdb"))
    out: dict[str, Any] = {"load": time.perf_counter() - start}
    runs: dict[str, Callable[[], Any]] = {
        "retention": lambda: b.pandas_retention(events, ids, START, END, PERIODS),
        "dau": lambda: b.pandas_dau(events, ids, START, END),
        "funnel4": lambda: b.pandas_funnel(events, ids, FUNNEL_4, FUNNEL_START, FUNNEL_END, WINDOW),
        "funnel12": lambda: b.pandas_funnel(
            events, ids, FUNNEL_12, FUNNEL_START, FUNNEL_END, WINDOW
        ),
    }
    repeat = 1 if rows >= 50_000_000 else 2
    for name, run in runs.items():
        result, wall, cpu = _best(run, repeat)
        out[name] = {"wall": wall, "cpu": cpu, "result": result}
    return out


def worker(side: str, folder: Path, rows: int) -> None:
    """Run one side and print its timings and results as JSON (the last line)."""
    if side == "userops":
        out = _userops(folder)
    elif side == "sql":
        out = _sql(folder, rows)
    else:
        out = _pandas(folder, rows)
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out, default=str))


def _spawn(side: str, folder: Path, rows: int) -> dict[str, Any]:
    out, seconds = run_side("bench.bench_analytics", side, str(folder), str(rows))
    times = ", ".join(f"{m} {out[m]['wall']:.2f}s" for m in METRICS)
    print(
        f"  {side}: {times}; peak {out['peak_rss'] / GIB:.2f} GiB "
        f"(done in {seconds:.0f}s; {load_average()})",
        flush=True,
    )
    return out


# --- the checks -----------------------------------------------------------------------------------


def _same(name: str, ours: Any, theirs: Any, who: str) -> None:
    if name.startswith("funnel"):
        if ours["counts"] != theirs["counts"]:
            raise AssertionError(f"{name}: userops {ours['counts']} != {who} {theirs['counts']}")
        for a, b in zip(ours["medians"], theirs.get("medians", ours["medians"]), strict=True):
            if (a is None) != (b is None) or (a is not None and abs(a - b) > 0.0011):
                raise AssertionError(f"{name}: medians differ: {ours['medians']} vs {who}")
    elif ours != theirs:
        raise AssertionError(f"{name}: userops and {who} disagree:\n{ours}\n{theirs}")


def measure(rows: int) -> dict[str, Any]:
    label = f"{rows / 1e6:g}M"
    print(f"analytics at {label} events ({load_average()})", flush=True)
    folder = warehouse(rows)
    sides = {side: _spawn(side, folder, rows) for side in ("userops", "sql", "pandas")}
    for metric in METRICS:
        ours = sides["userops"][metric]["result"]
        _same(metric, ours, sides["sql"][metric]["result"], "SQL")
        _same(metric, ours, sides["pandas"][metric]["result"], "pandas")
    print(f"  all three agree on every number ({load_average()})", flush=True)
    return {"rows": rows, "label": label, **sides}


def _results(m: dict[str, Any]) -> list[Result]:
    label, us, sql, pd = m["label"], m["userops"], m["sql"], m["pandas"]
    names = {
        "retention": "retention daily x 30d",
        "dau": "DAU 90 days",
        "funnel4": "funnel 4 steps 7d",
        "funnel12": "funnel 12 steps 7d",
    }
    targets = {
        ("retention", "pandas"): ">=20x",
        ("retention", "SQL"): ">=2x",
        ("dau", "pandas"): ">=20x",
        ("funnel4", "pandas"): ">=10x",
        ("funnel4", "SQL"): ">=1x",
    }
    out = []
    for metric in METRICS:
        for who, side, what in (
            ("pandas", pd, f"pandas, frames in memory (load {pd['load']:.0f}s not counted)"),
            ("SQL", sql, "hand-written DuckDB SQL"),
        ):
            out.append(
                Result(
                    name=f"{names[metric]} {label} vs {who}",
                    ours_s=us[metric]["wall"],
                    baseline_s=side[metric]["wall"],
                    baseline=what,
                    target=targets.get((metric, who), "-"),
                    ours_cpu_s=us[metric]["cpu"],
                    baseline_cpu_s=side[metric]["cpu"],
                )
            )
    out.append(
        Result(
            name=f"retention {label} cold (builds the index) vs SQL",
            ours_s=us["cold"]["wall"],
            baseline_s=sql["retention"]["wall"],
            baseline="hand-written DuckDB SQL",
            target="-",
            ours_cpu_s=us["cold"]["cpu"],
            baseline_cpu_s=sql["retention"]["cpu"],
        )
    )
    return out


def _checks(measured: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []

    def ratio(m: dict[str, Any], metric: str, side: str) -> float:
        return float(m[side][metric]["wall"] / m["userops"][metric]["wall"])

    for m in measured:
        label = m["label"]
        for metric, side, want in (
            ("retention", "pandas", 20),
            ("retention", "sql", 2),
            ("dau", "pandas", 20),
            ("funnel4", "pandas", 10),
            ("funnel4", "sql", 1),
        ):
            got = ratio(m, metric, side)
            checks.append((got >= want, f"{label} {metric} vs {side}: {got:.1f}x (>= {want}x)"))
        steps = m["userops"]["funnel12"]["wall"] / m["userops"]["funnel4"]["wall"]
        checks.append((steps <= 3, f"{label} funnel 12 steps / 4 steps: {steps:.2f}x (<= 3x)"))
        peak = m["userops"]["peak_rss"] / GIB
        others = f"SQL {m['sql']['peak_rss'] / GIB:.2f}, pandas {m['pandas']['peak_rss'] / GIB:.2f}"
        checks.append(
            (
                peak < 6 or m["rows"] < 50_000_000,
                f"{label} userops peak memory {peak:.2f} GiB (< 6 GiB at 50M; "
                f"index {m['userops']['index_bytes'] / GIB:.2f} GiB; {others} GiB)",
            )
        )
    by_rows = {m["rows"]: m for m in measured}
    if 10_000_000 in by_rows and 50_000_000 in by_rows:
        small, big = by_rows[10_000_000], by_rows[50_000_000]
        for metric in METRICS:
            grow = big["userops"][metric]["wall"] / small["userops"][metric]["wall"]
            checks.append((grow <= 6, f"{metric} 50M / 10M: {grow:.2f}x (<= 6x)"))
        grow = big["userops"]["cold"]["wall"] / small["userops"]["cold"]["wall"]
        checks.append((grow <= 6, f"cold retention (index build) 50M / 10M: {grow:.2f}x (<= 6x)"))
    return checks


def run(scales: str = SCALES) -> list[Result]:
    measured = [measure(parse_scale(s)) for s in scales.split(",") if s.strip()]
    results = [r for m in measured for r in _results(m)]
    print()
    for ok, text in _checks(measured):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    print(f"  ({load_average()})")
    print()
    return results


if __name__ == "__main__":
    worker(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
