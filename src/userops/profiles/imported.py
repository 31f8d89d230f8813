"""Imported tags (导入标签): tag values computed elsewhere (a CRM, a model, a spreadsheet), loaded
from a CSV file of `user_id,value` rows for a tag of kind "imported".

- The file has a header naming the columns `user_id` and `value` (others are ignored), UTF-8
  (a BOM is fine). Each value must fit the tag's value type: `boolean` true/false (also 1/0,
  yes/no, any case; stored as 'true'/'false'), `number` (finite, stored in `number` too),
  `date` (YYYY-MM-DD), `enum` (text up to 200 characters; one of `definition.values` when the
  tag lists them).
- All or nothing: one bad row refuses the whole file, and the message names every bad row (up
  to 20) by its line number; a user id given twice is a bad row.
- Unknown users are allowed: the ids of another system may arrive before their users do; their
  rows wait in `tag_values` and count in conditions as soon as the user is known. The result
  says how many ids the warehouse does not know yet.
- The import replaces all the tag's rows in one DuckDB transaction (an interruption leaves the
  previous values), then records the tag's size and refresh time.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
from sqlalchemy import Engine, select

from userops.domain.audience import MAX_NUMBER, MAX_TEXT
from userops.errors import InputError, NotFoundError
from userops.profiles import taxonomy
from userops.profiles.conditions import USER_ID, universe
from userops.profiles.tagvalues import replace_values
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import USER_ID_LENGTH, TagDefinition
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse

MAX_ERRORS: Final = 20
MAX_ROWS: Final = 10_000_000
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})


@dataclass(frozen=True, slots=True)
class TagImport:
    tag: str
    rows: int
    unknown_users: int

    def as_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "rows": self.rows, "unknown_users": self.unknown_users}


def _typed(value: str, value_type: str, allowed: Sequence[str] | None) -> tuple[str, float | None]:
    """(value text, number) for one value of the tag's type; ValueError says why not."""
    text = value.strip()
    if not text:
        raise ValueError("value is empty")
    if value_type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return "true", None
        if lowered in _FALSE:
            return "false", None
        raise ValueError(f"value {text[:40]!r} is not true or false")
    if value_type == "number":
        try:
            if "_" in text:  # Python reads 1_000; a spreadsheet or a person means no number
                raise ValueError
            number = float(text)
        except ValueError:
            raise ValueError(f"value {text[:40]!r} is not a number") from None
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise ValueError(f"value {text[:40]!r} is not a finite number within ±{MAX_NUMBER:.0e}")
        shown = str(int(number)) if number == int(number) else repr(number)
        return shown, number
    if value_type == "date":
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            raise ValueError(f"value {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if len(text) > MAX_TEXT:
        raise ValueError(f"value has {len(text)} characters; at most {MAX_TEXT}")
    if any(ord(c) < 32 for c in text):
        raise ValueError("value contains a control character")
    if allowed is not None and text not in allowed:
        raise ValueError(f"value {text[:40]!r} is not one of {', '.join(allowed)}")
    return text, None


def parse_rows(
    lines: Iterable[str], *, value_type: str, allowed: Sequence[str] | None = None, name: str
) -> list[tuple[str, str, float | None]]:
    """(user_id, value, number) per data row; InputError names every bad row by line."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{name}: empty file; expected a header user_id,value")
    columns = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in (USER_ID, "value") if c not in columns]
    if missing:
        raise InputError(
            f"{name}: the header has no {' or '.join(missing)} column "
            f"(found {', '.join(columns)[:200]})"
        )
    uid_at, value_at = columns.index(USER_ID), columns.index("value")
    rows: list[tuple[str, str, float | None]] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    bad = 0
    for line, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        problem = None
        uid = row[uid_at].strip() if uid_at < len(row) else ""
        if not uid:
            problem = "user_id is empty"
        elif len(uid) > USER_ID_LENGTH or any(ord(c) < 32 for c in uid):
            problem = "user_id is not a valid id"
        elif uid in seen:
            problem = f"user {uid[:40]!r} already has a value on line {seen[uid]}"
        typed: tuple[str, float | None] | None = None
        if problem is None:
            try:
                typed = _typed(row[value_at] if value_at < len(row) else "", value_type, allowed)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None or typed is None:
            bad += 1
            if len(errors) < MAX_ERRORS:
                errors.append(f"line {line}: {problem}")
            continue
        seen[uid] = line
        rows.append((uid, typed[0], typed[1]))
        if len(rows) > MAX_ROWS:
            raise InputError(f"{name}: more than {MAX_ROWS:,} rows")
    if errors:
        more = f" (and {bad - len(errors)} more)" if bad > len(errors) else ""
        raise InputError(f"{name}: {bad} bad row(s), nothing imported: {'; '.join(errors)}{more}")
    if not rows:
        raise InputError(f"{name}: no rows; the tag's values were left as they are")
    return rows


def import_tag_values(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    lines: Iterable[str],
    name: str = "file",
    actor: str,
) -> TagImport:
    """Replace the values of imported tag `code` with the rows of a CSV file."""
    with session_scope(engine, read_only=True) as session:
        tag = session.scalar(select(TagDefinition).where(TagDefinition.code == code))
        if tag is None:
            raise NotFoundError(f"unknown tag {code!r}")
        if tag.kind != "imported":
            raise InputError(
                f"tag {code!r} is of kind {tag.kind!r}; only tags of kind 'imported' take a file"
            )
        value_type, allowed = tag.value_type, taxonomy.allowed_codes(tag)
    rows = parse_rows(lines, value_type=value_type, allowed=allowed, name=name)
    staged = pa.table(
        {
            USER_ID: pa.array([r[0] for r in rows], type=pa.string()),
            "value": pa.array([r[1] for r in rows], type=pa.string()),
            "number": pa.array([r[2] for r in rows], type=pa.float64()),
        }
    )
    known = universe(wh)
    ids = ibis.memtable(staged.select([USER_ID]))
    found = int(known.filter(known[USER_ID].isin(ids[USER_ID])).count().to_pyarrow().as_py())
    now = utcnow()
    # values and that day's snapshot together, as a refresh writes them (history sees imports)
    written = replace_values(
        wh,
        code,
        staged,
        snapshot_date=now.astimezone(ZoneInfo(wh.timezone)).date(),
        refreshed_at=now,
    )
    with session_scope(engine) as session:
        tag = session.scalar(select(TagDefinition).where(TagDefinition.code == code))
        if tag is not None:
            tag.tagged_users = len(rows)
            tag.refreshed_at = written.refreshed_at
        append_audit(
            session,
            actor=actor,
            action="tags.import",
            target=code,
            detail={"rows": len(rows), "unknown_users": len(rows) - found, "file": name},
        )
    return TagImport(code, len(rows), len(rows) - found)
