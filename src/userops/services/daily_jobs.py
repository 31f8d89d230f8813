"""The jobs the server runs every day (through `services.schedule`), and the scheduler it starts.

- `points.expire` (00:05 local): writes the expiry of every lot that expired at midnight.
- `levels.evaluate` (00:15 local): evaluates every active level scheme for the day that just
  ended, then publishes the level steps to the warehouse as events (`level_upgrade`, ...).
  Up-and-down schemes with keep periods depend on time passing, so no day is skipped: after a
  server was down, the days it missed are evaluated in order (at most `CATCH_UP_DAYS`).

Other areas add their daily jobs in `register_jobs`.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any, Final

from userops.membership import levels, points
from userops.services import tag_jobs
from userops.services.runtime import Runtime
from userops.services.schedule import STATE_FILE, DailyScheduler, JobContext

EXPIRY_AT: Final = time(0, 5)
LEVELS_AT: Final = time(0, 15)
CATCH_UP_DAYS: Final = 31


def days_to_evaluate(context: JobContext, catch_up: int = CATCH_UP_DAYS) -> list[date]:
    """The local days a level evaluation on `context.day` covers: the day that just ended, and
    before it the days since the last run (a run on day P evaluated P - 1)."""
    last = context.day - timedelta(days=1)
    first = context.previous_day or last
    first = max(first, last - timedelta(days=catch_up - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def evaluate_levels(runtime: Runtime, context: JobContext) -> dict[str, Any]:
    """Evaluate the levels for the days that need it, then publish the steps as events."""
    engine, tz = runtime.engine, runtime.settings.tz
    days = days_to_evaluate(context)
    users = 0
    changes: dict[str, int] = {}
    for day in days:
        run = levels.evaluate(engine, on=day, tz=tz)
        users += run.users
        for kind, count in run.changes.items():
            changes[kind] = changes.get(kind, 0) + count
    with runtime.warehouse() as wh:
        published = levels.publish_level_events(engine, wh, tz=tz)
    return {
        "days": [day.isoformat() for day in days],
        "users": users,
        "changes": changes,
        "published": published,
    }


def expire_points(runtime: Runtime, context: JobContext) -> dict[str, int]:
    return points.expire(runtime.engine, at=context.now).as_json()


def register_jobs(scheduler: DailyScheduler, runtime: Runtime) -> None:
    """Every daily job of the server."""
    scheduler.register("points.expire", EXPIRY_AT, lambda ctx: expire_points(runtime, ctx))
    scheduler.register("levels.evaluate", LEVELS_AT, lambda ctx: evaluate_levels(runtime, ctx))
    tag_jobs.register(scheduler, runtime)  # tags.refresh at USEROPS_TAGS_REFRESH_AT


def server_scheduler(runtime: Runtime) -> DailyScheduler:
    """The server's scheduler with every daily job registered (not started)."""
    settings = runtime.settings
    scheduler = DailyScheduler(tz=settings.tz, state=settings.ensure_data_dir() / STATE_FILE)
    register_jobs(scheduler, runtime)
    return scheduler
