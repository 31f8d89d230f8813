"""Channel costs: what each acquisition channel cost per day, for CAC and ROI.

`userops import costs FILE` reads a CSV or Parquet file with the columns `date` (YYYY-MM-DD, a
local day), `channel`, `amount` (currency units, rounded half-up to cents) and optionally
`currency`. Rows with the same date and channel in one file are added up (several campaigns of
one channel); the import then replaces the stored amount of every (date, channel) it holds, so
importing a corrected file fixes it and importing the same file twice changes nothing. A file
with any bad row imports nothing and the error names the rows and reasons.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.errors import InputError
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, warehouse_session
from userops.warehouse.transactions import transaction

REQUIRED: Final = ("date", "channel", "amount")
MAX_AMOUNT: Final = Decimal(10) ** 16
MAX_REPORTED: Final = 10  # bad rows named in one error
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_UPSERT: Final = (
    "INSERT INTO costs (date, channel, amount, currency) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (date, channel) DO UPDATE "
    "SET amount = excluded.amount, currency = excluded.currency"
)


@dataclass(frozen=True, slots=True)
class CostImport:
    source: str
    rows: int  # rows read from the file
    added: int  # (date, channel) pairs that were not stored before
    replaced: int  # pairs whose stored amount the file replaced
    total: Decimal  # sum of the file's amounts

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "added": self.added,
            "replaced": self.replaced,
            "total": str(self.total),
        }


def import_costs_file(settings: Settings, path: Path) -> CostImport:
    """The service behind `userops import costs`: open the warehouse, import, close."""
    rows = read_costs(path)  # read and check before taking the warehouse
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        return store_costs(wh, rows, source=str(path))


def import_costs(wh: Warehouse, path: Path) -> CostImport:
    return store_costs(wh, read_costs(path), source=str(path))


def store_costs(
    wh: Warehouse, rows: list[tuple[int, date, str, Decimal, str | None]], *, source: str
) -> CostImport:
    """Sum the rows per (date, channel) and upsert them in one transaction."""
    merged: dict[tuple[date, str], tuple[Decimal, str | None]] = {}
    for number, day, channel, amount, currency in rows:
        before = merged.get((day, channel))
        if before is not None and before[1] != currency:
            raise InputError(
                f"{source}: row {number}: {channel} on {day} has currency {currency or 'none'} "
                f"and {before[1] or 'none'} in another row"
            )
        merged[(day, channel)] = ((before[0] if before else Decimal(0)) + amount, currency)
    con = wh.duckdb
    [(stored_before,)] = con.execute("SELECT count(*) FROM costs").fetchall()
    with transaction(con):
        con.executemany(
            _UPSERT, [[day, ch, amount, cur] for (day, ch), (amount, cur) in merged.items()]
        )
    [(stored_after,)] = con.execute("SELECT count(*) FROM costs").fetchall()
    added = int(stored_after) - int(stored_before)
    return CostImport(
        source=source,
        rows=len(rows),
        added=added,
        replaced=len(merged) - added,
        total=sum((r[3] for r in rows), Decimal("0.00")),
    )


def read_costs(path: Path) -> list[tuple[int, date, str, Decimal, str | None]]:
    """(row number, date, channel, amount, currency) per row; InputError on any bad row."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    good, bad = [], []
    for number, record in _records(path):
        try:
            good.append((number, *_check(record)))
        except ValueError as exc:
            bad.append(f"row {number}: {exc}")
    if bad:
        shown = "; ".join(bad[:MAX_REPORTED])
        more = f" (and {len(bad) - MAX_REPORTED} more)" if len(bad) > MAX_REPORTED else ""
        plural = "s" if len(bad) > 1 else ""
        raise InputError(f"{path}: {len(bad)} bad row{plural}, nothing imported: {shown}{more}")
    if not good:
        raise InputError(f"{path}: no rows")
    return good


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_records(path)
    elif suffix == ".parquet":
        yield from _parquet_records(path)
    else:
        raise InputError(f"{path}: costs are read from .csv or .parquet files, not {suffix!r}")


def _check_header(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            "(a costs file has date, channel, amount and optionally currency)"
        )


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            _check_header(path, [c.strip() for c in reader.fieldnames or []])
            for record in reader:
                clean = {(k or "").strip(): v for k, v in record.items()}
                yield reader.line_num, clean
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None


def _parquet_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    _check_header(path, table.column_names)
    yield from enumerate(table.to_pylist(), start=1)


def _check(record: dict[str, Any]) -> tuple[date, str, Decimal, str | None]:
    return (
        _day(record.get("date")),
        _channel(record.get("channel")),
        _amount(record.get("amount")),
        _currency(record.get("currency")),
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _day(value: Any) -> date:
    if _blank(value):
        raise ValueError("missing date")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"date {value!r} is not YYYY-MM-DD") from None


def _channel(value: Any) -> str:
    if _blank(value):
        raise ValueError("missing channel")
    channel = str(value).strip()
    if len(channel) > 256:
        raise ValueError("channel is longer than 256 characters")
    return channel


def _amount(value: Any) -> Decimal:
    if _blank(value):
        raise ValueError("missing amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a number") from None
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"amount {value!r} is not a number within ±10^16")
    if amount < 0:
        raise ValueError(f"amount {value!r} is negative")
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _currency(value: Any) -> str | None:
    if _blank(value):
        return None
    code = str(value).strip()
    if not _CURRENCY.match(code):
        raise ValueError(f"currency {value!r} is not a 3-letter ISO 4217 code")
    return code.upper()


def has_costs_table(wh: Source) -> bool:
    """A warehouse created before costs existed has no table until `userops init` upgrades it;
    a source that is not a live warehouse (compiling SQL) has every table."""
    return not isinstance(wh, Warehouse) or "costs" in wh.ibis.list_tables()


def costs_by_channel_expr(wh: Source, *, since: date, until: date) -> ir.Table:
    """Rows (channel, cost): spend per channel over the local days."""
    costs = wh.table("costs")
    spent = costs.filter(costs["date"] >= since, costs["date"] <= until)
    return spent.group_by("channel").aggregate(cost=spent.amount.sum())
