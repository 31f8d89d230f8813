"""What the warehouse holds, for the console's pickers and defaults: the local days its events
cover, the event names that exist, and the values and custom keys of user traits.

The console's default range is the last days *of the data*, not of the wall clock: a data set
that stopped yesterday, or the demo generated for another end date, still opens on its own
last 30 days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from userops.analytics.base import Source
from userops.analytics.filters import TRAIT_COLUMNS
from userops.analytics.periods import DEFAULT_DAYS
from userops.analytics.results import fetch

MAX_EVENT_NAMES: Final = 500
MAX_TRAIT_VALUES: Final = 30
TRAIT_SAMPLE: Final = 2000  # users read to find the keys of custom traits


@dataclass(frozen=True, slots=True)
class DataDays:
    """The first and last local day with an event."""

    first: date
    last: date

    def last_days(self, days: int = DEFAULT_DAYS) -> tuple[date, date]:
        """The `days` local days ending on the last day of data (not before the first day)."""
        return max(self.first, self.last - timedelta(days=days - 1)), self.last


def data_days(wh: Source) -> DataDays | None:
    """The local days the events cover; None when there is no event."""
    events = wh.table("events")
    table = events.aggregate(lo=events.timestamp.min(), hi=events.timestamp.max()).to_pyarrow()
    lo: datetime | None = table["lo"][0].as_py()
    hi: datetime | None = table["hi"][0].as_py()
    if lo is None or hi is None:
        return None
    tz = ZoneInfo(wh.timezone)
    return DataDays(lo.astimezone(tz).date(), hi.astimezone(tz).date())


def default_range(wh: Source, today: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The last `days` local days of the data, or of the calendar up to `today` without data."""
    covered = data_days(wh)
    if covered is None:
        return today - timedelta(days=days - 1), today
    return covered.last_days(days)


def event_names(wh: Source, limit: int = MAX_EVENT_NAMES) -> list[str]:
    """The names of tracked events, the most frequent first (identify and alias have none)."""
    events = wh.table("events")
    named = events.filter(events.event.notnull(), events.event != "")
    counts = named.group_by("event").aggregate(n=named.count())
    rows = fetch(counts.order_by([counts.n.desc(), counts.event]).limit(limit))
    return [str(r["event"]) for r in rows]


def trait_values(wh: Source, field: str, limit: int = MAX_TRAIT_VALUES) -> list[str]:
    """The most common values of a `users` column among TRAIT_COLUMNS, for suggestions."""
    if field not in TRAIT_COLUMNS:
        raise ValueError(f"{field!r} is not one of {TRAIT_COLUMNS}")
    users = wh.table("users")
    column = users[field]
    valued = users.filter(column.notnull(), column != "")
    counts = valued.group_by(field).aggregate(n=valued.count())
    rows = fetch(counts.order_by([counts.n.desc(), counts[field]]).limit(limit))
    return [str(r[field]) for r in rows]


def custom_trait_keys(wh: Source, sample: int = TRAIT_SAMPLE) -> list[str]:
    """The keys of the users' custom traits (`trait.KEY`), read from a sample of users."""
    users = wh.table("users")
    rows = users.filter(users.traits.notnull()).select("traits").limit(sample).to_pyarrow()
    keys: set[str] = set()
    for value in rows["traits"].to_pylist():
        data = json.loads(value) if isinstance(value, str) else value
        if isinstance(data, dict):
            keys.update(k for k in data if isinstance(k, str) and k.isidentifier())
    return sorted(keys)
