"""Daily jobs in the server: a small runner that calls each registered job once per local day.

Some work depends on time passing rather than on a request: the level evaluation (a keep
period ends, a growth window slides), the expiry of points, the refresh of tags. The server
registers such jobs (`register(name, time_of_day, fn)`) and the runner calls each one once per
local day of `USEROPS_TIMEZONE`, at or after its time of day, in a background thread.

- **At most once per local day, across restarts.** Before a job starts, the runner writes the
  day to a small JSON file in the data folder (`scheduler.json`); a server started again that
  day finds it and does not run the job a second time, even if the first run was cut short.
  A server that was down at the job's time runs it as soon as it is up again.
- **A failing job does not stop the others nor the server**: its exception is logged with the
  traceback and recorded (`status: failed`, the message) and the job runs again the next day.
- A job gets a `JobContext`: the local day it runs on and the day it last ran (None the first
  time), so a job that must not skip days can catch up on the ones the server was down for.

One server process runs the scheduler (the one that holds the warehouse,
docs/decisions/0001-warehouse-ownership.md); `USEROPS_SCHEDULER=0` turns it off.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any, Final

import orjson

from userops.errors import InputError

log = logging.getLogger("userops.schedule")

STATE_FILE: Final = "scheduler.json"
POLL_SECONDS: Final = 30.0


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job is told when it runs: today's local day and the day it last ran."""

    day: date
    previous_day: date | None
    now: datetime


JobFn = Callable[[JobContext], object]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    at: time
    fn: JobFn


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a job: when, and whether it ended well (`error` holds the message if not)."""

    name: str
    day: date
    started_at: datetime
    finished_at: datetime
    ok: bool
    error: str | None = None
    result: Any = None


def parse_time_of_day(value: time | str) -> time:
    """`time(3, 30)` or `"03:30"`: the local time a job becomes due each day."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    try:
        return time.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(f"time of day {value!r} is not HH:MM") from exc


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RunLog:
    """The last run of each job, kept in a JSON file (written whole, then renamed into place,
    so a crash leaves the old file or the new one, never half of one)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except orjson.JSONDecodeError:
            log.error("the scheduler's run log %s is not JSON; starting afresh", self.path)
            return {}
        return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)}

    def last_day(self, name: str) -> date | None:
        entry = self.read().get(name)
        if not entry or not entry.get("day"):
            return None
        try:
            return date.fromisoformat(str(entry["day"]))
        except ValueError:
            return None

    def record(self, name: str, **fields: Any) -> None:
        with self._lock:
            data = self._read()
            data[name] = {**data.get(name, {}), **fields}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".tmp")
            partial.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            os.replace(partial, self.path)


class DailyScheduler:
    """Registered jobs, run once per local day from a background thread (or `run_pending`)."""

    def __init__(
        self,
        *,
        tz: tzinfo,
        state: Path | RunLog,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.tz = tz
        self.log = state if isinstance(state, RunLog) else RunLog(state)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(self._jobs.values())

    def register(self, name: str, time_of_day: time | str, fn: JobFn) -> Job:
        """Run `fn` once a local day, at or after `time_of_day`; names are unique."""
        name = name.strip()
        if not name:
            raise InputError("a daily job needs a name")
        if name in self._jobs:
            raise InputError(f"a daily job {name!r} is already registered")
        job = Job(name, parse_time_of_day(time_of_day), fn)
        self._jobs[name] = job
        return job

    def _local_now(self, now: datetime | None) -> datetime:
        return (now or self.clock()).astimezone(self.tz)

    def due(self, now: datetime | None = None) -> list[Job]:
        """The jobs whose time has come today and that have not run today."""
        local = self._local_now(now)
        runs = self.log.read()
        found = []
        for job in self._jobs.values():
            if local.time() < job.at:
                continue
            if runs.get(job.name, {}).get("day") == local.date().isoformat():
                continue
            found.append(job)
        return sorted(found, key=lambda j: (j.at, j.name))

    def run_pending(self, now: datetime | None = None) -> list[JobRun]:
        """Run every due job, one after the other; a failure is logged and recorded."""
        with self._run_lock:
            return [self._run(job, now) for job in self.due(now)]

    def _run(self, job: Job, now: datetime | None) -> JobRun:
        local = self._local_now(now)
        day = local.date()
        previous = self.log.last_day(job.name)
        started = self.clock()
        # Recorded before the job starts: a run cut short by a crash is not repeated that day.
        self.log.record(
            job.name, day=day.isoformat(), started_at=started.isoformat(), status="running"
        )
        try:
            result = job.fn(JobContext(day=day, previous_day=previous, now=local))
        except Exception as exc:
            log.error("daily job %s failed on %s:\n%s", job.name, day, traceback.format_exc())
            finished = self.clock()
            message = f"{type(exc).__name__}: {exc}"[:500]
            self.log.record(
                job.name, finished_at=finished.isoformat(), status="failed", error=message
            )
            return JobRun(job.name, day, started, finished, False, message)
        finished = self.clock()
        summary = _summary(result)
        self.log.record(
            job.name, finished_at=finished.isoformat(), status="ok", error=None, result=summary
        )
        log.info("daily job %s ran for %s: %s", job.name, day, summary)
        return JobRun(job.name, day, started, finished, True, None, summary)

    def status(self) -> list[dict[str, Any]]:
        """Each registered job with its time of day and its last run (for pages and APIs)."""
        runs = self.log.read()
        return [
            {"name": job.name, "at": job.at.strftime("%H:%M"), **runs.get(job.name, {})}
            for job in sorted(self._jobs.values(), key=lambda j: (j.at, j.name))
        ]

    # The background thread -------------------------------------------------------------

    def start(self) -> None:
        """Check for due jobs now and then every `poll_seconds`, until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="userops-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.run_pending()
            except Exception:  # the runner itself (its file), never a job: keep going
                log.error("the scheduler failed:\n%s", traceback.format_exc())
            if self._stop.wait(self.poll_seconds):
                return

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop checking; a job that is running is let finish (up to `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _summary(result: object) -> Any:
    """What a job returned, as JSON the run log can keep (its `as_json()` when it has one)."""
    as_json = getattr(result, "as_json", None)
    value = as_json() if callable(as_json) else result
    try:
        orjson.dumps(value)
    except TypeError:
        return str(value)
    return value
