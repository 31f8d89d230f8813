"""The analytics pages' query parameters: read as text, checked here, written back into links.

Every control is a GET parameter, so a page's URL is the whole question and can be shared. The
values are read as text rather than typed by FastAPI, so a bad one becomes an InputError that
the page shows (FastAPI's own check would answer a 422 in JSON).

Common to every page: `from`, `to` (local days; default the last 30 days of the data),
`where` (repeatable, the filter syntax of docs/metrics.md) and `by` (one trait).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from userops.analytics.catalog import DataDays
from userops.analytics.filters import Filters, parse_by, parse_where
from userops.analytics.periods import DEFAULT_DAYS, PERIODS, Period, check_range, parse_day
from userops.errors import InputError

COMMON: Final = ("from", "to", "where", "by")
QUICK_RANGES: Final = (7, 30, 90)
_TRUE: Final = frozenset({"1", "true", "on", "yes"})


class Params:
    """The request's query parameters as the operator typed them."""

    def __init__(self, query: QueryParams | Sequence[tuple[str, str]], path: str = ""):
        self.items: list[tuple[str, str]] = list(
            query.multi_items() if isinstance(query, QueryParams) else query
        )
        self.path = path  # the page's own path, the default target of `link`

    def raw(self, name: str) -> list[str]:
        """Every value of `name`, in order, blanks included (the rows of a builder)."""
        return [value for key, value in self.items if key == name]

    def text(self, name: str) -> str | None:
        """The first value of `name`, trimmed; None when absent or blank."""
        for value in self.raw(name):
            return value.strip() or None
        return None

    def texts(self, name: str) -> list[str]:
        """Every non-blank value of `name`, trimmed."""
        return [v.strip() for v in self.raw(name) if v.strip()]

    def day(self, name: str) -> date | None:
        value = self.text(name)
        return parse_day(value, name) if value is not None else None

    def integer(self, name: str, default: int, lowest: int, highest: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise InputError(f"{name} {value!r} is not a whole number") from None
        if not lowest <= number <= highest:
            raise InputError(f"{name} {number} is not between {lowest} and {highest}")
        return number

    def flag(self, name: str) -> bool:
        value = self.text(name)
        return value is not None and value.lower() in _TRUE

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        allowed = tuple(choices)
        if value not in allowed:
            raise InputError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        return value

    def period(self, default: Period) -> Period:
        chosen = self.choice("period", PERIODS, default)
        return next(p for p in PERIODS if p == chosen)

    def first(self) -> dict[str, str]:
        """The first raw value of each name: what the form's single inputs show."""
        out: dict[str, str] = {}
        for key, value in self.items:
            out.setdefault(key, value)
        return out

    def link(
        self, path: str | None = None, *, keep: Iterable[str] | None = None, **changes: object
    ) -> str:
        """`path` (default: this page) with these parameters (only those in `keep`, when given),
        `changes` replacing theirs (a list for several values; None or "" removes one).
        `from_` stands for `from`."""
        path = self.path if path is None else path
        changed = {name.rstrip("_"): value for name, value in changes.items()}
        kept = set(keep) if keep is not None else None
        items = [
            (k, v)
            for k, v in self.items
            if k not in changed and (kept is None or k in kept) and v.strip()
        ]
        for name, value in changed.items():
            values = value if isinstance(value, list | tuple) else [value]
            items.extend((name, str(v)) for v in values if v is not None and str(v) != "")
        return f"{path}?{urlencode(items)}" if items else path


@dataclass(frozen=True, slots=True)
class Common:
    """The range, filters and breakdown every analytics page takes."""

    start: date
    end: date
    where: tuple[str, ...]
    filters: Filters
    by: str | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def default_range(covered: DataDays | None, today: date) -> tuple[date, date]:
    """The last 30 days of the data (of the calendar up to today when there is none)."""
    if covered is None:
        return today - timedelta(days=DEFAULT_DAYS - 1), today
    return covered.last_days(DEFAULT_DAYS)


def read_common(params: Params, covered: DataDays | None, today: date) -> Common:
    """The common controls; InputError names the first bad one."""
    start, end = params.day("from"), params.day("to")
    default_start, default_end = default_range(covered, today)
    if start is None and end is None:
        start, end = default_start, default_end
    elif start is None:
        assert end is not None
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    elif end is None:
        end = default_end
    check_range(start, end)
    where = tuple(params.texts("where"))
    return Common(start, end, where, parse_where(where), parse_by(params.text("by")))


def quick_ranges(covered: DataDays | None, today: date) -> list[tuple[str, date, date]]:
    """(label key, from, to) of the range shortcuts: the last 7/30/90 days of data, and all."""
    last = covered.last if covered is not None else today
    out = [(f"analytics.range.last_{n}", last - timedelta(days=n - 1), last) for n in QUICK_RANGES]
    if covered is not None:
        out.append(("analytics.range.all", covered.first, covered.last))
    return out
