"""Refreshing every built-in tag: userops against a straightforward pandas version.

The operation timed is the server's daily job: the tags were refreshed yesterday, a day of
events came in, and every tag is refreshed for today (`profiles.refresh.refresh_tags`,
forced, so every tag is recomputed). userops brings its daily rollup up to the new events
(`profiles.computed.daily`: the day's events summed per user and day, appended), builds the
per-user facts from it in DuckDB, builds each model as an Ibis expression over them, and
writes each tag in its own transaction, rewriting only the values that changed
(`tagvalues`, docs/decisions/0009). The baseline is the idiomatic pandas version of the same
definitions (tests/profiles/reference.py, the tests' reference): load the events, identities
and users into pandas (through Arrow, see `_load`), resolve ids with a merge, group by user per
tag, then write each tag with the same writer (`tagvalues.replace_values`: the same storage,
so the same rows and the same cost per row for both). Each side runs on its own copy of the
same warehouse, timed from the warehouse to the written rows; the written values and history
are compared tag by tag, so the fast path is checked to give the reference's result.

A second line times a first refresh: no rollup and no tag values yet (a new warehouse), for
both sides; it has no target.

Size: USEROPS_BENCH_TAG_USERS (25,000 users: about 1M demo events over 90 days) and
USEROPS_BENCH_TAG_DAYS (90). The demo data is generated once into bench/data, every day but
the last imported into a warehouse and its tags refreshed (`prepare`); each side then imports
the last day into a copy of it (not timed). The target run, 2M users and 50M events:

    USEROPS_BENCH_TAG_USERS=2000000 USEROPS_BENCH_TAG_DAYS=30 python -m bench tags

(or `python -m bench.bench_tags --users 2000000 --days 30`; the line printed names the events
actually generated). The pandas version needs about 350 bytes of memory an event (over 21.4 GiB
at 71.9M events, where it was stopped); when less is free, only userops runs (its rows still
checked against its own snapshot days) and the line says why there is no ratio.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
from tests.profiles import reference as ref

from bench.common import BENCH_DIR, DEMO_END, Result, sized_main, timed_cpu
from userops.demo import generate_files
from userops.ingest.service import import_paths
from userops.membership.tags import member_tags
from userops.profiles import computed, refresh, tagvalues, taxonomy
from userops.profiles.computed import daily
from userops.profiles.computed import membership as member_model
from userops.settings import Settings
from userops.store.db import make_engine
from userops.store.migrate import upgrade
from userops.warehouse.connection import Warehouse, open_warehouse

USERS = int(os.environ.get("USEROPS_BENCH_TAG_USERS", "25000"))
DAYS = int(os.environ.get("USEROPS_BENCH_TAG_DAYS", "90"))
TIMEZONE = "Asia/Shanghai"
LAST_DAY = "last_day.parquet"
MODELS = ("rfm", "lifecycle", "grade", "intent", "activity")
MEMBER_TAGS = {
    "member_loyalty": "loyalty",
    "member_participation": "participation",
    "member_participation_level": "participation_level",
}


def prepare(users: int, days: int) -> Path:
    """A folder holding the demo data of `users` x `days` (made once, then reused): the
    warehouse as it stood the evening before the last day (every earlier event imported, the
    tags refreshed for the day before: `yesterday/`), the last day's events
    (`last_day.parquet`), and what was generated (`loaded`)."""
    folder = BENCH_DIR / f"tags-daily-{users}-{days}"
    done = folder / "loaded"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    files = generate_files(folder / "files", users=users, days=days, seed=7, end=DEMO_END)
    first_instant = datetime.combine(DEMO_END, datetime.min.time(), tzinfo=ZoneInfo(TIMEZONE))
    before = folder / "files" / "before.parquet"
    with duckdb.connect() as con:  # streams: the whole file does not fit in memory at 2M users
        for path, keep in ((before, "<"), (folder / LAST_DAY, ">=")):
            con.execute(
                f"COPY (SELECT * FROM read_parquet(?) WHERE timestamp {keep} ?) "
                f"TO '{path}' (FORMAT parquet)",
                [str(files.events_path), first_instant.astimezone(UTC)],
            )
    settings = _settings(folder / "yesterday")
    for kind, path in (("users", files.users_path), ("events", before)):
        summary = import_paths(settings, kind, [path])  # type: ignore[arg-type]
        assert summary.rejected == 0, summary
    with _app_database() as url, open_warehouse(settings) as wh:
        ours(wh, url, today=DEMO_END - timedelta(days=1))
    shutil.rmtree(folder / "files")
    done.write_text(json.dumps({"users": files.users, "events": files.events}))
    return folder


def _settings(folder: Path) -> Settings:
    return Settings(data_dir=folder, timezone=TIMEZONE)


@contextmanager
def today_warehouse(folder: Path, *, cold: bool) -> Iterator[Warehouse]:
    """A copy of yesterday's warehouse with the last day's events imported (stamped now, as a
    day's ingestion stamps them); `cold`: without the daily rollup and with no tag values yet,
    as before a first refresh."""
    with tempfile.TemporaryDirectory(prefix="userops-bench-tags-", dir=BENCH_DIR) as tmp:
        work = Path(tmp) / "data"
        shutil.copytree(folder / "yesterday", work)
        settings = _settings(work)
        summary = import_paths(settings, "events", [folder / LAST_DAY])
        assert summary.rejected == 0, summary
        with open_warehouse(settings) as wh:
            if cold:
                _clear(wh)
                for table in (daily.USER_DAYS, daily.USER_DAYS_STATE):
                    wh.duckdb.execute(f"DROP TABLE {table.name}")
                wh.duckdb.execute("CHECKPOINT")
            # the copy's pages are still in the page cache, unwritten: the first checkpoint's
            # file sync would write the whole copy (3 s at 2M users), which a warehouse that
            # was not just copied never pays
            os.sync()
            yield wh


def wh_tz(wh: Warehouse) -> ZoneInfo:
    return ZoneInfo(wh.timezone)


def _clear(wh: Warehouse) -> None:
    tagvalues.ensure_tables(wh)
    for table in ("tag_values", "tag_changes", "tag_snapshot_days"):
        wh.duckdb.execute(f"DELETE FROM {table}")
    wh.duckdb.execute("CHECKPOINT")


def _written(wh: Warehouse) -> dict[str, tuple[int, int, int]]:
    """Per tag: values, a checksum of (user, value, number) over them and over its history;
    every tag has a snapshot of the last day with as many users as values."""
    rows = wh.sql(
        "SELECT tag, count(*), sum(hash(user_id, value, coalesce(number, -1))) FROM tag_values "
        "GROUP BY tag"
    )
    history = dict(
        wh.sql(
            "SELECT tag, sum(hash(snapshot_date, user_id, value, coalesce(number, -1))) "
            "FROM tag_changes GROUP BY tag"
        )
    )
    out = {t: (int(n), int(h), int(history.get(t) or 0)) for t, n, h in rows}
    days = wh.sql("SELECT tag, users FROM tag_snapshot_days WHERE snapshot_date = ?", [DEMO_END])
    assert {t: n for t, n in days if n} == {t: n for t, (n, _, _) in out.items()}
    return out


def ours(wh: Warehouse, url: str, *, today: date = DEMO_END) -> refresh.RunInfo:
    engine = make_engine(url)
    try:
        run = refresh.refresh_tags(
            engine,
            lambda: refresh.lend(wh),
            today=today,
            tz=wh_tz(wh),
            force=True,
            segments=False,
        )
    finally:
        engine.dispose()
    assert run.status == "succeeded", run.error
    return run


def _load(wh: Warehouse) -> ref.Frames:
    """The three tables in pandas, as a straightforward script reads them: through Arrow, so
    the strings stay Arrow strings (`.df()` makes a Python object per string first: a third of
    the time and 5x the memory, which at 2M users does not fit in 24 GiB)."""
    con = wh.duckdb
    events = (
        con.sql(
            "SELECT event, user_id, anonymous_id, timestamp AS ts, "
            "CAST(round(revenue * 100) AS BIGINT) AS revenue_cents, "
            "CASE WHEN event = 'invite' THEN properties END AS properties FROM events"
        )
        .to_arrow_table()
        .to_pandas()
    )
    events["revenue_cents"] = events.revenue_cents.astype("Int64")
    invites = events.properties.notna()
    events["invitee"] = None
    events.loc[invites, "invitee"] = events.loc[invites, "properties"].map(
        lambda text: json.loads(text).get("invitee")
    )
    events = events.drop(columns=["properties"])
    events["ts"] = events.ts.dt.tz_convert("UTC")
    identities = con.sql("SELECT anonymous_id, user_id FROM identities").to_arrow_table()
    identities = identities.to_pandas()
    users = con.sql("SELECT user_id, created_at, channel, traits FROM users").to_arrow_table()
    users = users.to_pandas()
    users["created_at"] = users.created_at.dt.tz_convert("UTC")
    users["source_detail"] = users.traits.map(
        lambda text: json.loads(text).get("register_source_detail") if text else None
    )
    users = users.drop(columns=["traits"])
    return ref.Frames(events, identities, users, wh_tz(wh), DEMO_END)


def baseline(wh: Warehouse, url: str) -> int:
    frames = _load(wh)
    params = {m: computed.parse_params(m, None) for m in MODELS}
    tags = ref.builtin_tags(frames, params)
    engine = make_engine(url)
    try:
        rows = member_tags(engine, at=datetime.now(UTC))
    finally:
        engine.dispose()
    for code, field in MEMBER_TAGS.items():
        table = member_model.member_values(rows, field, member_model.MemberParams())
        tags[code] = table.to_pandas().set_index("user_id")
    now = datetime.now(UTC)
    for code, frame in tags.items():
        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
        tagvalues.replace_values(wh, code, table, snapshot_date=DEMO_END, refreshed_at=now)
    return len(tags)


PANDAS_BYTES_PER_EVENT = 350  # pandas passed 21.4 GiB at 71.9M events (stopped there)


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _side(folder: Path, cold: bool, work: Callable[[Warehouse, str], object]) -> tuple[Any, ...]:
    """Time `work` on a fresh copy of today's warehouse: (seconds, cpu seconds, written)."""
    with _app_database() as url, today_warehouse(folder, cold=cold) as wh:
        seconds, cpu = timed_cpu(lambda: work(wh, url))
        return seconds, cpu, _written(wh)


def run(users: int = USERS, days: int = DAYS) -> list[Result]:
    folder = prepare(users, days)
    counts = json.loads((folder / "loaded").read_text())
    need = counts["events"] * PANDAS_BYTES_PER_EVENT
    pandas_fits = need <= _available_bytes()  # else pandas would take the machine down with it
    size = f"{counts['users'] / 1e6:g}M users {counts['events'] / 1e6:.3g}M events"
    results = []
    for cold, name in ((False, f"refresh all tags {size}"), (True, "  first refresh (cold)")):
        ours_s, ours_cpu, mine = _side(folder, cold, ours)
        base_s: float = float("nan")
        base_cpu: float | None = None
        baseline_is = f"pandas not run: needs about {need / 2**30:.0f} GiB, more than is free"
        if pandas_fits:
            base_s, base_cpu, theirs = _side(folder, cold, baseline)
            assert set(mine) == set(theirs) and len(mine) >= 12, sorted(set(mine) ^ set(theirs))
            wrong = sorted(t for t in mine if mine[t] != theirs[t])
            assert not wrong, f"userops and pandas disagree on {wrong}"
            baseline_is = "pandas, same definitions + writes"
        results.append(
            Result(
                name=name,
                ours_s=ours_s,
                baseline_s=base_s,
                baseline=baseline_is,
                target="-" if cold else ">=20x",
                units=counts["events"],
                ours_cpu_s=ours_cpu,
                baseline_cpu_s=base_cpu,
            )
        )
    return results


@contextmanager
def _app_database() -> Iterator[str]:
    """A fresh application database with the built-in taxonomy, for one run (its URL)."""
    with tempfile.TemporaryDirectory(prefix="userops-bench-tags-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'app.db'}"
        upgrade(url)
        engine = make_engine(url)
        taxonomy.seed_builtins(engine)
        engine.dispose()
        yield url


def main() -> None:
    sized_main(__doc__, run, USERS, DAYS)


if __name__ == "__main__":
    main()
