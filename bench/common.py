"""Timing, data preparation and the results table shared by every benchmark."""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

BENCH_DIR = Path(os.environ.get("USEROPS_BENCH_DIR", Path(__file__).parent / "data"))
DEMO_END = date(2026, 10, 31)


@dataclass(frozen=True)
class Result:
    name: str
    ours_s: float
    baseline_s: float
    baseline: str
    target: str
    units: float = 0.0  # work items (events, requests) for a rate column
    unit: str = "events"
    ours_cpu_s: float | None = None  # CPU seconds, where both sides ran in this process
    baseline_cpu_s: float | None = None

    @property
    def ratio(self) -> float:
        """How many times the baseline's speed userops reaches (>1 is faster)."""
        return self.baseline_s / self.ours_s if self.ours_s else float("inf")


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of `repeat` runs (the least disturbed by other load)."""
    return timed_cpu(fn, repeat)[0]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_cpu(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads of this process) of `repeat` runs.

    On a shared machine other processes steal cores from a multi-threaded run, which inflates
    its wall time but much less its CPU time; the table shows both ratios.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        fn()
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, _cpu_seconds() - start_cpu)
    return best_wall, best_cpu


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo_events(rows: int) -> Path:
    """A Parquet file of exactly `rows` demo events (generated once, then cached)."""
    from userops.demo import generate_files

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    target = BENCH_DIR / f"events-{rows}.parquet"
    if target.exists():
        return target
    users = max(1000, rows // 40)
    while True:
        out = BENCH_DIR / f"demo-{users}"
        files = generate_files(out, users=users, days=90, seed=7, end=DEMO_END)
        if files.events >= rows:
            break
        users = int(users * rows / max(files.events, 1) * 1.1) + 1
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE t AS SELECT * FROM read_parquet(?) LIMIT ?",
        [str(files.events_path), rows],
    )
    con.table("t").write_parquet(str(target))
    con.close()
    return target


def print_table(results: list[Result]) -> None:
    header = (
        f"{'benchmark':44} {'userops':>10} {'baseline':>10} {'ratio':>7} {'cpu ratio':>9}  "
        f"{'target':>8}  baseline is"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        rate = f"  ({r.units / r.ours_s:,.0f} {r.unit}/s)" if r.units else ""
        cpu = (
            f"{r.baseline_cpu_s / r.ours_cpu_s:8.2f}x"
            if r.ours_cpu_s and r.baseline_cpu_s
            else f"{'-':>9}"
        )
        ran = r.baseline_s == r.baseline_s  # NaN: the baseline could not run (said why)
        baseline = f"{r.baseline_s:9.2f}s" if ran else f"{'not run':>10}"
        ratio = f"{r.ratio:6.2f}x" if ran else f"{'-':>7}"
        print(
            f"{r.name:44} {r.ours_s:9.2f}s {baseline} {ratio} {cpu}  "
            f"{r.target:>8}  {r.baseline}{rate}"
        )


def sized_main(
    doc: str | None, run: Callable[[int, int], list[Result]], users: int, days: int
) -> None:
    """`python -m bench.<suite> [--users N] [--days D]`: one suite at another size, its table
    printed (the suites whose data set is so many users over so many days)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--days", type=int, default=days)
    args = parser.parse_args()
    print_table(run(args.users, args.days))


def load_average() -> str:
    """The machine's load, for the lines a bench prints (these machines are shared)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def run_side(module: str, side: str, *args: str) -> tuple[dict[str, Any], float]:
    """Run one side of a bench alone in its own process (`python -m MODULE SIDE ARGS...`,
    from the repository's root) and return the JSON object of its last output line and the
    seconds it took."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, side, *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    if done.returncode:
        raise RuntimeError(f"the {side} side failed:\n{done.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out, time.perf_counter() - started
