"""A real `userops tags refresh` process killed (SIGKILL: no handler, nothing flushed) at
several points leaves every tag at its old values or at its new ones, its values equal to its
latest snapshot; the run it left `running` is marked interrupted by the next, which completes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.profiles import reference as ref
from tests.profiles.conftest import TagWorld
from tests.profiles.tag_data import TODAY
from userops.profiles import computed, refresh, tagvalues
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import RefreshRun
from userops.warehouse.connection import open_warehouse

TAGS = ["rfm_group", "rfm_r", "rfm_f", "rfm_m", "lifecycle_stage", "value_grade",
        "intent_level", "activity_level", "member_join_path", "member_invites",
        "member_invitees", "member_self_propagation"]  # fmt: skip
OLD_DAY = TODAY - timedelta(days=60)


def _state(settings: Settings) -> tuple[dict, dict]:
    """Each tag's current values and its snapshots by day."""
    with open_warehouse(settings, read_only=True) as wh:
        values = {t: {} for t in TAGS}
        for tag, user, value, number in wh.sql(
            "SELECT tag, user_id, value, number FROM tag_values"
        ):
            values.setdefault(tag, {})[user] = (value, number)
        snaps: dict[tuple[str, object], dict] = {}
        for tag, day in wh.sql("SELECT tag, snapshot_date FROM tag_snapshot_days"):
            rows = tagvalues.snapshot(wh, tag, day).to_pyarrow().to_pylist()
            snaps[(tag, day)] = {r["user_id"]: (r["value"], r["number"]) for r in rows}
    return values, snaps


def _latest_run(url: str) -> tuple[int, int]:
    """The id of the newest run and how many tags it has written."""
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            row = session.execute(
                select(RefreshRun.id, RefreshRun.detail).order_by(RefreshRun.id.desc())
            ).first()
        return (row[0], len((row[1] or {}).get("tags", {}))) if row else (0, 0)
    finally:
        engine.dispose()


def _start(settings: Settings, *, quiet: bool = True) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "USEROPS_DATA_DIR": str(settings.data_dir),
        "USEROPS_TIMEZONE": settings.timezone,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "userops", "tags", "refresh", "--force", "--date", str(TODAY),
         "--json"],
        env=env,
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
def test_killed_refresh_leaves_every_tag_whole(shanghai: TagWorld, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(shanghai.settings.data_dir, data)
    settings = Settings(data_dir=data, timezone=shanghai.settings.timezone)
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with open_warehouse(settings) as wh:
            first = refresh.refresh_tags(
                engine, lambda: refresh.lend(wh), today=OLD_DAY, tz=settings.tz
            )
            assert first.status == "succeeded"
    finally:
        engine.dispose()
    old, _ = _state(settings)
    params = {m: computed.parse_params(m, None) for m in ("rfm", "lifecycle", "grade", "intent",
                                                         "activity")}  # fmt: skip
    new = {t: ref.as_dict(rows) for t, rows in ref.builtin_tags(shanghai.frames, params).items()}
    assert all(old[t] != new[t] for t in ("rfm_group", "lifecycle_stage", "activity_level"))

    rng = random.Random(3)
    kills = 0
    for after in (1, 4, 7, 0, 0):
        known, _ = _latest_run(url)
        proc = _start(settings)
        deadline = time.monotonic() + 120
        while proc.poll() is None:
            run, written = _latest_run(url)
            if run > known and written >= after:
                break
            assert time.monotonic() < deadline, "the refresh made no progress"
            time.sleep(0.02)
        if after == 0:
            time.sleep(rng.uniform(0.0, 1.5))  # anywhere: computing, staging, committing
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        values, snaps = _state(settings)
        for tag in TAGS:
            assert values[tag] in (old[tag], new[tag]), tag
            latest = snaps.get((tag, TODAY)) or snaps[(tag, OLD_DAY)]
            assert values[tag] == latest, f"{tag}: values differ from the latest snapshot"
            assert snaps[(tag, OLD_DAY)] == old[tag], f"{tag}: the old snapshot changed"
    assert kills >= 3

    done = _start(settings, quiet=False)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    values, _ = _state(settings)
    assert {t: values[t] for t in TAGS} == new
    engine = make_engine(url)
    try:
        runs = refresh.list_runs(engine, limit=50)
    finally:
        engine.dispose()
    assert runs[0].status == "succeeded"
    assert [r.status for r in runs[1:]].count("interrupted") == kills
    assert "running" not in {r.status for r in runs}
