"""The daily job runner (services.schedule) and the server's daily jobs (services.daily_jobs).

The runner is driven by a clock the tests set; the server's scheduler is tested through the
app's own lifespan (TestClient), over a real data folder: the level evaluation it registers
moves a user up and writes the step to the warehouse as an event."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from userops.domain.membership.incentives import AwardFormula
from userops.errors import InputError
from userops.membership import levels, open_database, points, rules
from userops.membership.levels import LevelSpec
from userops.server import app_factory, create_app
from userops.services.daily_jobs import CATCH_UP_DAYS, days_to_evaluate
from userops.services.schedule import STATE_FILE, DailyScheduler, JobContext, RunLog
from userops.settings import Settings, get_settings

SH = ZoneInfo("Asia/Shanghai")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 1, 0, tzinfo=SH))


def scheduler(path: Path, clock: Clock, **kw: float) -> DailyScheduler:
    return DailyScheduler(tz=SH, state=path / STATE_FILE, clock=clock, **kw)


def test_a_due_job_runs_once_per_local_day_even_across_restarts(
    tmp_path: Path, clock: Clock
) -> None:
    seen: list[JobContext] = []
    runner = scheduler(tmp_path, clock)
    runner.register("count", "03:00", seen.append)
    assert runner.run_pending() == []  # 01:00: not yet
    clock.set(2026, 3, 2, 3, 0)
    [run] = runner.run_pending()
    assert run.ok and run.day == date(2026, 3, 2)
    assert [(c.day, c.previous_day) for c in seen] == [(date(2026, 3, 2), None)]
    clock.set(2026, 3, 2, 23, 59)
    assert runner.run_pending() == []  # once a day
    # a restart the same day: a new runner on the same data folder does not run it again
    again = scheduler(tmp_path, clock)
    again.register("count", "03:00", seen.append)
    assert again.run_pending() == [] and len(seen) == 1
    # the next local day, at 03:00 Shanghai (19:00 UTC the day before)
    again.clock = Clock(datetime(2026, 3, 2, 18, 59, tzinfo=UTC))
    assert again.run_pending() == []
    again.clock = Clock(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    assert [r.day for r in again.run_pending()] == [date(2026, 3, 3)]
    assert seen[-1].previous_day == date(2026, 3, 2)
    # a server down at the job's time runs it as soon as it is up
    clock.set(2026, 3, 6, 15, 30)
    late = scheduler(tmp_path, clock)
    late.register("count", "03:00", seen.append)
    [run] = late.run_pending()
    assert run.day == date(2026, 3, 6) and seen[-1].previous_day == date(2026, 3, 3)
    state = orjson.loads((tmp_path / STATE_FILE).read_bytes())
    assert state["count"]["day"] == "2026-03-06" and state["count"]["status"] == "ok"


def test_the_day_is_recorded_before_the_job_runs(tmp_path: Path, clock: Clock) -> None:
    """A run cut short (the process killed) is not repeated that day."""
    runner = scheduler(tmp_path, clock)
    during: list[dict[str, object]] = []

    def job(context: JobContext) -> None:
        during.append(RunLog(tmp_path / STATE_FILE).read()["slow"])

    runner.register("slow", "00:30", job)
    runner.run_pending()
    assert during[0]["day"] == "2026-03-02" and during[0]["status"] == "running"


def test_a_failing_job_is_logged_and_the_others_still_run(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[date] = []

    def boom(context: JobContext) -> None:
        raise RuntimeError("the warehouse is on fire")

    runner = scheduler(tmp_path, clock)
    runner.register("boom", "00:10", boom)
    runner.register("after", "00:20", lambda c: ran.append(c.day))
    with caplog.at_level(logging.ERROR, logger="userops.schedule"):
        runs = runner.run_pending()
    assert [(r.name, r.ok) for r in runs] == [("boom", False), ("after", True)]
    assert runs[0].error == "RuntimeError: the warehouse is on fire"
    assert ran == [date(2026, 3, 2)]
    assert "daily job boom failed on 2026-03-02" in caplog.text
    assert "RuntimeError: the warehouse is on fire" in caplog.text  # with the traceback
    status = {s["name"]: s for s in runner.status()}
    assert status["boom"]["status"] == "failed" and status["after"]["status"] == "ok"
    assert runner.run_pending() == []  # at most once a day, failed or not
    clock.set(2026, 3, 3, 0, 15)
    assert [r.name for r in runner.run_pending()] == ["boom"]  # tried again the next day


def test_the_thread_survives_a_failing_job_and_stops(tmp_path: Path, clock: Clock) -> None:
    done = threading.Event()

    def boom(context: JobContext) -> None:
        raise ValueError("no")

    runner = scheduler(tmp_path, clock, poll_seconds=0.05)
    runner.register("boom", "00:00", boom)
    runner.register("ok", "00:00", lambda c: done.set())
    runner.start()
    try:
        assert done.wait(10)
        assert runner.running
        clock.set(2026, 3, 3, 0, 1)  # the next day: both are due again, the thread still polls
        done.clear()
        assert done.wait(10)
        assert runner.running
    finally:
        runner.stop()
    assert not runner.running


def test_registering_checks_names_and_times(tmp_path: Path, clock: Clock) -> None:
    runner = scheduler(tmp_path, clock)
    runner.register("a", "01:00", lambda c: None)
    with pytest.raises(InputError, match="already registered"):
        runner.register("a", "02:00", lambda c: None)
    with pytest.raises(InputError, match="is not HH:MM"):
        runner.register("b", "quarter past", lambda c: None)
    with pytest.raises(InputError, match="needs a name"):
        runner.register(" ", "01:00", lambda c: None)


def test_a_damaged_run_log_starts_afresh(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    runner = scheduler(tmp_path, clock)
    runner.register("a", "00:00", lambda c: None)
    with caplog.at_level(logging.ERROR, logger="userops.schedule"):
        assert [r.ok for r in runner.run_pending()] == [True]
    assert "is not JSON" in caplog.text


@pytest.mark.parametrize(
    ("today", "previous", "days"),
    [
        (date(2026, 3, 10), None, [date(2026, 3, 9)]),
        (date(2026, 3, 10), date(2026, 3, 9), [date(2026, 3, 9)]),
        (
            date(2026, 3, 10),
            date(2026, 3, 7),
            [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)],
        ),
        (date(2026, 3, 10), date(2026, 3, 10), []),
    ],
)
def test_the_level_evaluation_catches_up_missed_days(
    today: date, previous: date | None, days: list[date]
) -> None:
    context = JobContext(day=today, previous_day=previous, now=datetime(2026, 3, 10, tzinfo=SH))
    assert days_to_evaluate(context) == days


def test_the_catch_up_is_bounded() -> None:
    context = JobContext(
        day=date(2026, 6, 1), previous_day=date(2025, 1, 1), now=datetime(2026, 6, 1, tzinfo=SH)
    )
    found = days_to_evaluate(context)
    assert len(found) == CATCH_UP_DAYS and found[-1] == date(2026, 5, 31)


# The server's scheduler ---------------------------------------------------------------------


def _seed(settings: Settings) -> None:
    """A user with 1500 growth value earned three days ago, and 40 points that expired."""
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with open_database(settings) as engine:
        levels.create_scheme(
            engine,
            code="club",
            name="Club",
            levels=[LevelSpec("silver", "Silver", 0), LevelSpec("gold", "Gold", 1000)],
        )
        rules.create_rule(
            engine, code="buy", name="buy", event="purchase", growth=AwardFormula("per_amount", 1)
        )
        rules.apply_events(
            engine,
            [
                {
                    "message_id": "m1",
                    "user_id": "u1",
                    "event": "purchase",
                    "timestamp": three_days_ago,
                    "revenue": "1500",
                    "properties": {},
                }
            ],
            tz=SH,
        )
        points.award(
            engine, user_id="u1", amount=40, key="old", at=three_days_ago, expiry="days:1", tz=SH
        )


def _wait_for(path: Path, names: set[str]) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = RunLog(path).read()
        if all(state.get(n, {}).get("status") in ("ok", "failed") for n in names):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the daily jobs did not run: {RunLog(path).read()}")


def test_the_server_evaluates_levels_and_expires_points_every_day(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", timezone="Asia/Shanghai", scheduler=True)
    _seed(settings)
    app = create_app(settings)
    with TestClient(app):
        runner = app.state.scheduler
        assert isinstance(runner, DailyScheduler) and runner.running
        assert {(j.name, j.at.strftime("%H:%M")) for j in runner.jobs} == {
            ("points.expire", "00:05"),
            ("levels.evaluate", "00:15"),
        }
        state = _wait_for(settings.data_dir / STATE_FILE, {"points.expire", "levels.evaluate"})
        assert state["points.expire"]["status"] == "ok", state
        assert state["levels.evaluate"]["status"] == "ok", state
        runtime = app.state.runtime
        yesterday = datetime.now(SH).date() - timedelta(days=1)
        assert state["levels.evaluate"]["result"]["days"] == [yesterday.isoformat()]  # type: ignore[index]
        member = levels.member_level(runtime.engine, scheme="club", user_id="u1")
        assert member.level == "gold" and member.since == yesterday
        assert [h.kind for h in levels.history(runtime.engine, user_id="u1")] == ["upgrade"]
        with runtime.warehouse() as wh:
            events = wh.sql(
                "SELECT event, user_id, properties->>'to_level' FROM events "
                "WHERE event LIKE 'level_%'"
            )
        assert events == [("level_upgrade", "u1", "gold")]
        assert [(e.kind, e.amount) for e in points.statement(runtime.engine, user_id="u1")] == [
            ("expire", -40),
            ("earn", 40),
        ]
    assert not runner.running  # the lifespan stopped it
    # started again the same day: nothing runs twice
    again = create_app(settings)
    with TestClient(again):
        assert again.state.scheduler.due() == []
        time.sleep(0.3)
        assert len(levels.history(again.state.runtime.engine, user_id="u1")) == 1


def test_the_scheduler_is_off_when_disabled_and_in_tests(tmp_path: Path) -> None:
    for settings in (
        Settings(data_dir=tmp_path / "off", scheduler=False),
        Settings(data_dir=tmp_path / "default"),  # an app built by create_app: off
    ):
        _seed(settings)
        app = create_app(settings)
        with TestClient(app):
            assert app.state.scheduler is None
            time.sleep(0.2)
            member = levels.member_level(app.state.runtime.engine, scheme="club", user_id="u1")
            assert member.level is None
        assert not (settings.data_dir / STATE_FILE).exists()


@pytest.fixture
def env_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data_dir = tmp_path / "served"
    monkeypatch.setenv("USEROPS_DATA_DIR", str(data_dir))
    monkeypatch.delenv("USEROPS_DATABASE_URL", raising=False)
    monkeypatch.delenv("USEROPS_WAREHOUSE_URL", raising=False)
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


def test_userops_serve_runs_the_scheduler_unless_told_not_to(
    env_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("USEROPS_SCHEDULER", raising=False)
    served = app_factory()  # what `userops serve` runs
    with TestClient(served):
        assert served.state.scheduler is not None and served.state.scheduler.running
    monkeypatch.setenv("USEROPS_SCHEDULER", "0")
    get_settings.cache_clear()
    quiet = app_factory()
    with TestClient(quiet):
        assert quiet.state.scheduler is None
