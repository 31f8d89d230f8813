"""The server's daily tag refresh (registered by `daily_jobs.register_jobs`).

At `USEROPS_TAGS_REFRESH_AT` (local time, default 03:00; `off` turns it off) the server
refreshes every active tag as of the local day, then the dynamic segments: the same run as
`userops tags refresh`, recorded in refresh_runs with trigger `schedule`. It borrows the
warehouse tag by tag (`Runtime.warehouse`), so ingestion goes on between tags.
"""

from __future__ import annotations

from typing import Any

from userops.profiles import refresh
from userops.services.runtime import Runtime
from userops.services.schedule import DailyScheduler, JobContext

JOB = "tags.refresh"


def refresh_job(runtime: Runtime, context: JobContext) -> dict[str, Any]:
    run = refresh.refresh_tags(
        runtime.engine,
        runtime.warehouse,
        today=context.day,
        tz=runtime.settings.tz,
        trigger="schedule",
    )
    data = run.as_json()
    return {key: data[key] for key in ("id", "status", "refreshed", "skipped", "failed", "error")}


def register(scheduler: DailyScheduler, runtime: Runtime) -> None:
    at = runtime.settings.tags_refresh_at
    if at.strip().lower() == "off":
        return
    scheduler.register(JOB, at, lambda ctx: refresh_job(runtime, ctx))
