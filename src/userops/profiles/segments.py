"""Segments (人群): audiences saved under a code, their members kept in the warehouse.

- A **dynamic** segment keeps its rule (docs/segments.md); its members are the rule's audience
  at the last evaluation: when it was created or changed, and at every tag refresh
  (`refresh_dynamic_segments`).
- A **static** segment is a frozen list: a rule's audience evaluated once, an uploaded list of
  user ids, the users who dropped out of a funnel at a step, or the users of a retention cell.
  `source` says where the list came from.

Definitions live in the application database (`segments`), members in the warehouse
(`segment_members`). Every change of members is one DuckDB transaction (delete the segment's
rows, insert the new ones), run after the audience was computed: an evaluation that fails
changes nothing, and an interrupted write leaves the previous members. The definition is
committed after its members, so a segment row never points at members that were not written;
members left by a failure without a row are replaced when the code is used again.

A condition `{"segment": CODE}` reads that segment's stored members, so a refresh evaluates
dynamic segments in the order of their references, and a reference that would loop is refused
when a segment is saved.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import pyarrow as pa
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from userops.analytics.base import Source
from userops.analytics.filters import NO_FILTERS, Filters
from userops.analytics.funnels import FunnelSpec, format_window, funnel
from userops.analytics.periods import Period
from userops.analytics.retention import CohortBasis, retention_cell_users
from userops.domain.audience import (
    MAX_TEXT,
    AllOf,
    AnyOf,
    Condition,
    Not,
    Rule,
    check_code,
    parse_rule,
    referenced_segments,
    rule_to_json,
)
from userops.domain.bounds import check_day
from userops.domain.spreadsheet import BOM as spreadsheet_bom
from userops.domain.spreadsheet import cell as spreadsheet_cell
from userops.errors import ConflictError, InputError, NotFoundError, UseropsError
from userops.profiles import livecount, references
from userops.profiles.conditions import USER_ID, audience
from userops.store.audit import append_audit
from userops.store.db import session_scope
from userops.store.models import USER_ID_LENGTH, Segment
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse
from userops.warehouse.transactions import transaction

DEFAULT_SAMPLE: Final = 20
MAX_SAMPLE: Final = 1000
MAX_UPLOAD: Final = 5_000_000
MAX_NAME: Final = 200
_STAGING: Final = "_userops_new_segment_members"


@dataclass(frozen=True, slots=True)
class Preview:
    count: int
    sample: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "sample": list(self.sample)}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    code: str
    name: str
    kind: str
    rule: dict[str, Any] | None
    source: str | None
    description: str | None
    owner: str | None
    size: int | None
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None

    @classmethod
    def of(cls, row: Segment) -> SegmentInfo:
        return cls(
            row.code,
            row.name,
            row.kind,
            row.rule,
            row.source,
            row.description,
            row.owner,
            row.size,
            row.created_at,
            row.updated_at,
            row.refreshed_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "rule": self.rule,
            "source": self.source,
            "description": self.description,
            "owner": self.owner,
            "size": self.size,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
        }


class SegmentRefreshError(UseropsError):
    """Some dynamic segments could not be evaluated; the others were refreshed (`sizes`)."""

    def __init__(self, failures: Mapping[str, str], sizes: Mapping[str, int]):
        self.failures = dict(failures)
        self.sizes = dict(sizes)
        listed = "; ".join(f"{code}: {reason}" for code, reason in self.failures.items())
        super().__init__(
            f"{len(self.failures)} segment(s) kept their previous members ({listed}); "
            f"{len(self.sizes)} refreshed"
        )


# --- checks -----------------------------------------------------------------------------------


def _rule(rule: Any) -> Rule:
    """A parsed rule as it is; anything else (JSON of any shape) through the parser."""
    return rule if isinstance(rule, AllOf | AnyOf | Not | Condition) else parse_rule(rule)


def check_references(session: Session, rule: Rule, *, code: str | None = None) -> None:
    """Refuse a rule naming an unknown tag or segment, or one that would loop back to the
    segment `code` being saved (`references.check_rules`)."""
    references.check_rules(session, ("segment", code) if code else None, {"rule": rule})


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError("a segment needs a name")
    if len(name) > MAX_NAME:
        raise InputError(f"name: {len(name)} characters; at most {MAX_NAME}")
    return name.strip()


def check_user_ids(ids: Iterable[Any], *, what: str = "user_ids") -> list[str]:
    """Distinct user ids in first-seen order; InputError names the first bad one."""
    out: dict[str, None] = {}
    for i, uid in enumerate(ids):
        if not isinstance(uid, str) or not uid.strip():
            raise InputError(f"{what}[{i}]: a user id is a non-empty string")
        if len(uid) > USER_ID_LENGTH:
            raise InputError(f"{what}[{i}]: {len(uid)} characters; at most {USER_ID_LENGTH}")
        if any(ord(c) < 32 for c in uid):
            raise InputError(f"{what}[{i}]: contains a control character")
        out.setdefault(uid, None)
        if len(out) > MAX_UPLOAD:
            raise InputError(f"{what}: more than {MAX_UPLOAD:,} user ids")
    if not out:
        raise InputError(f"{what}: no user ids given")
    return list(out)


def read_user_ids(text: Iterable[str], *, name: str = "file") -> list[str]:
    """User ids from a CSV file with a `user_id` column (other columns ignored); a bad row is
    named by its line number."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{name}: empty file; expected a header with a user_id column")
    header = [h.strip().lstrip("\ufeff") for h in header]
    if USER_ID not in header:
        raise InputError(f"{name}: the header has no user_id column (found {', '.join(header)})")
    column = header.index(USER_ID)
    ids: list[str] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        value = row[column].strip() if column < len(row) else ""
        if not value:
            raise InputError(f"{name}: line {line}: user_id is empty")
        if len(value) > USER_ID_LENGTH or any(ord(c) < 32 for c in value):
            raise InputError(f"{name}: line {line}: user_id is not a valid id")
        ids.append(value)
    return check_user_ids(ids, what=name)


# --- evaluating and writing -------------------------------------------------------------------


def _audience_ids(source: Source, rule: Rule, today: date) -> pa.Array:
    """Every id the rule selects, sorted or not: from the live count's bit sets when they are
    warm (the server, after a preview: milliseconds at 2M users), else the compiled rule."""
    check_day(today, "today")
    fast = livecount.select(source, rule, today=today, warm_only=True)
    if fast is not None:
        return fast.ids()
    table = audience(source, rule, today=today).to_pyarrow()
    return table[USER_ID].combine_chunks().cast(pa.string())


def preview(
    wh: Source,
    rule: Any,
    *,
    today: date,
    engine: Engine | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> Preview:
    """How many users a rule selects on local day `today`, and the first `sample` of them by
    id. With `engine`, unknown tags and segments are refused by name."""
    check_day(today, "today")
    parsed = _rule(rule)
    if not 0 <= sample <= MAX_SAMPLE:
        raise InputError(f"sample: 0 to {MAX_SAMPLE}, not {sample}")
    if engine is not None:
        with session_scope(engine, read_only=True) as session:
            check_references(session, parsed)
    fast = livecount.select(wh, parsed, today=today)
    if fast is not None:
        return Preview(fast.count, fast.first(sample))
    chosen = audience(wh, parsed, today=today)
    counted = chosen.mutate(total=chosen[USER_ID].count().over())
    rows = counted.order_by(USER_ID).limit(max(sample, 1)).to_pyarrow().to_pylist()
    count = int(rows[0]["total"]) if rows else 0
    return Preview(count, tuple(str(r[USER_ID]) for r in rows[:sample]))


def write_members(wh: Warehouse, code: str, user_ids: pa.Array | list[str]) -> int:
    """Replace the members of `code` in one DuckDB transaction; the number of members."""
    ids = pa.array(user_ids, type=pa.string()) if isinstance(user_ids, list) else user_ids
    staged = pa.table({USER_ID: ids})
    con = wh.duckdb
    con.register(_STAGING, staged)
    try:
        with transaction(con, bulk="log"):
            con.execute("DELETE FROM segment_members WHERE segment = ?", [code])
            con.execute(
                "INSERT INTO segment_members SELECT DISTINCT ?, user_id, ? "
                "FROM _userops_new_segment_members WHERE user_id IS NOT NULL",
                [code, utcnow()],
            )
            count = con.execute(
                "SELECT count(*) FROM segment_members WHERE segment = ?", [code]
            ).fetchone()
    finally:
        con.unregister(_STAGING)
    return int(count[0]) if count else 0


def _delete_members(wh: Warehouse, code: str) -> None:
    wh.sql("DELETE FROM segment_members WHERE segment = ?", [code])


def members(wh: Source, code: str) -> pa.Table:
    """The members of a segment, sorted by user id (one column, user_id)."""
    table = wh.table("segment_members")
    chosen = table.filter(table.segment == code).select(USER_ID).order_by(USER_ID)
    result: pa.Table = chosen.to_pyarrow()
    return result


def csv_lines(ids: pa.Table, *, batch: int = 10_000, spreadsheet: bool = False) -> Iterator[str]:
    """A members table as CSV text, a header then `batch` rows at a time; for a spreadsheet
    (the console's download) with a byte order mark and no cell read as a formula
    (`domain.spreadsheet`), else exact."""
    yield f"{spreadsheet_bom if spreadsheet else ''}user_id\r\n"
    column = ids[USER_ID]
    for start in range(0, len(column), batch):
        out = io.StringIO()
        writer = csv.writer(out)
        for uid in column.slice(start, batch).to_pylist():
            writer.writerow([spreadsheet_cell(uid) if spreadsheet else uid])
        yield out.getvalue()


# --- the service ------------------------------------------------------------------------------


def _load(session: Session, code: str) -> Segment:
    row = session.scalar(select(Segment).where(Segment.code == code))
    if row is None:
        raise NotFoundError(f"unknown segment {code!r}")
    return row


def _taken(session: Session, code: str) -> None:
    """A code is taken whatever its case: `VIP` and `vip` would be one segment to a reader."""
    found = session.scalar(select(Segment.code).where(func.lower(Segment.code) == code.lower()))
    if found is not None:
        shown = "" if found == code else f" (as {found!r})"
        raise ConflictError(f"segment {code!r} already exists{shown}")


def _save_new(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    name: str,
    kind: str,
    rule: Rule | None,
    source: str | None,
    description: str | None,
    actor: str,
    ids: pa.Array | list[str],
) -> SegmentInfo:
    """Write the members, then commit the definition (see the module's docstring)."""
    now = utcnow()
    try:
        with session_scope(engine) as session:
            _taken(session, code)
            if rule is not None:
                check_references(session, rule, code=code)
            size = write_members(wh, code, ids)
            row = Segment(
                code=code,
                name=name,
                description=description,
                kind=kind,
                rule=rule_to_json(rule) if rule is not None else None,
                source=source,
                owner=actor,
                created_at=now,
                updated_at=now,
                refreshed_at=now,
                size=size,
            )
            session.add(row)
            session.flush()
            append_audit(
                session,
                actor=actor,
                action="segments.create",
                target=code,
                detail={"kind": kind, "size": size, "source": source},
            )
            return SegmentInfo.of(row)
    except IntegrityError as exc:
        raise ConflictError(f"segment {code!r} already exists") from exc


def _prepare(engine: Engine, code: str, name: str, rule: Rule | None) -> tuple[str, str]:
    code = check_code(code, what="segment")
    name = _check_name(name)
    with session_scope(engine, read_only=True) as session:
        _taken(session, code)
        if rule is not None:
            check_references(session, rule, code=code)
    return code, name


def create_segment(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    name: str,
    rule: Any,
    static: bool = False,
    description: str | None = None,
    actor: str,
    today: date,
) -> SegmentInfo:
    """A segment from a rule: dynamic (re-evaluated at each refresh) or static (the audience of
    `today`, frozen). Its members are written at once."""
    parsed = _rule(rule)
    code, name = _prepare(engine, code, name, parsed)
    ids = _audience_ids(wh, parsed, today)
    source = f"rule, evaluated on {today.isoformat()}" if static else None
    return _save_new(
        engine,
        wh,
        code=code,
        name=name,
        kind="static" if static else "dynamic",
        rule=parsed,
        source=source,
        description=description,
        actor=actor,
        ids=ids,
    )


def create_static_segment(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    name: str,
    user_ids: Iterable[Any],
    source: str,
    description: str | None = None,
    actor: str,
) -> SegmentInfo:
    """A static segment of the given user ids (an upload, a funnel's drop-offs, a retention
    cell), kept as given: ids the warehouse does not know yet stay in the list."""
    ids = check_user_ids(user_ids)
    code, name = _prepare(engine, code, name, None)
    if len(source) > MAX_TEXT * 5:
        source = source[: MAX_TEXT * 5]
    return _save_new(
        engine,
        wh,
        code=code,
        name=name,
        kind="static",
        rule=None,
        source=source,
        description=description,
        actor=actor,
        ids=ids,
    )


def list_segments(engine: Engine) -> list[SegmentInfo]:
    with session_scope(engine, read_only=True) as session:
        rows = session.scalars(select(Segment).order_by(Segment.code))
        return [SegmentInfo.of(r) for r in rows]


def get_segment(engine: Engine, code: str) -> SegmentInfo:
    with session_scope(engine, read_only=True) as session:
        return SegmentInfo.of(_load(session, code))


def update_rule(
    engine: Engine, wh: Warehouse, code: str, rule: Any, *, actor: str, today: date
) -> SegmentInfo:
    """Change a dynamic segment's rule and evaluate it now; a static segment is refused."""
    parsed = _rule(rule)
    with session_scope(engine, read_only=True) as session:
        row = _load(session, code)
        if row.kind != "dynamic":
            raise InputError(
                f"segment {code!r} is static: its members are a frozen list; create a new segment"
            )
        check_references(session, parsed, code=code)
    ids = _audience_ids(wh, parsed, today)
    with session_scope(engine) as session:
        row = _load(session, code)
        check_references(session, parsed, code=code)
        size = write_members(wh, code, ids)
        now = utcnow()
        before = row.rule
        row.rule = rule_to_json(parsed)
        row.size = size
        row.updated_at = now
        row.refreshed_at = now
        append_audit(
            session,
            actor=actor,
            action="segments.update",
            target=code,
            detail={"before": before, "after": row.rule, "size": size},
        )
        session.flush()
        return SegmentInfo.of(row)


def delete_segment(engine: Engine, wh: Warehouse, code: str, *, actor: str) -> None:
    """Delete a segment and its members; refused while another segment or a rule tag reads
    it."""
    with session_scope(engine) as session:
        row = _load(session, code)
        references.refuse_readers(session, ("segment", code))
        append_audit(
            session,
            actor=actor,
            action="segments.delete",
            target=code,
            detail={"kind": row.kind, "rule": row.rule, "size": row.size},
        )
        session.delete(row)
        session.flush()
        _delete_members(wh, code)


def _refresh_order(rules: Mapping[str, Rule]) -> list[str]:
    """Dynamic segments, each after the dynamic segments it reads (codes sorted otherwise)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(code: str) -> None:
        if state.get(code) == "done":
            return
        if state.get(code) == "visiting":  # a loop slipped in: evaluate it where it stands
            return
        state[code] = "visiting"
        for other in sorted(referenced_segments(rules[code])):
            if other in rules:
                visit(other)
        state[code] = "done"
        order.append(code)

    for code in sorted(rules):
        visit(code)
    return order


def refresh_dynamic_segments(engine: Engine, wh: Warehouse, *, today: date) -> dict[str, int]:
    """Re-evaluate every dynamic segment for local day `today`: rewrite its members (one DuckDB
    transaction each) and record its size and refresh time. Returns code -> size.

    A segment whose rule fails keeps its previous members and the others go on; then
    `SegmentRefreshError` names the failures (its `sizes` holds the refreshed ones).
    """
    rules: dict[str, Rule] = {}
    failures: dict[str, str] = {}
    with session_scope(engine, read_only=True) as session:
        for code, rule in session.execute(
            select(Segment.code, Segment.rule).where(Segment.kind == "dynamic")
        ):
            try:
                rules[code] = parse_rule(rule)
            except InputError as exc:
                failures[code] = str(exc)
    sizes: dict[str, int] = {}
    for code in _refresh_order(rules):
        try:
            ids = _audience_ids(wh, rules[code], today)
            size = write_members(wh, code, ids)
        except Exception as exc:  # one bad segment must not stop the others
            failures[code] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        with session_scope(engine) as session:
            row = session.scalar(select(Segment).where(Segment.code == code))
            if row is not None:
                row.size = size
                row.refreshed_at = utcnow()
        sizes[code] = size
    if failures:
        raise SegmentRefreshError(failures, sizes)
    return sizes


# --- static segments from analyses ------------------------------------------------------------


def create_from_funnel(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    name: str,
    spec: FunnelSpec,
    dropped_at: int,
    description: str | None = None,
    actor: str,
) -> SegmentInfo:
    """A static segment of the users who reached step `dropped_at - 1` of a funnel but not step
    `dropped_at` (the funnel's `dropped_users`)."""
    ids = funnel(wh, spec).dropped_users(dropped_at)
    if not ids:
        raise InputError(f"nobody dropped out at step {dropped_at} of this funnel; nothing to save")
    steps = " > ".join(step.label for step in spec.steps)
    source = (
        f"funnel {steps} ({spec.order}, window {format_window(spec.window)}, "
        f"{spec.start.isoformat()}..{spec.end.isoformat()}"
        f"{', ' + '; '.join(spec.filters.as_params()) if spec.filters else ''}): "
        f"dropped out at step {dropped_at}"
    )
    return create_static_segment(
        engine,
        wh,
        code=code,
        name=name,
        user_ids=ids,
        source=source,
        description=description,
        actor=actor,
    )


def create_from_retention(
    engine: Engine,
    wh: Warehouse,
    *,
    code: str,
    name: str,
    period: Period,
    start: date,
    end: date,
    cohort: date,
    k: int,
    basis: CohortBasis = "first_activity",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
    retained: bool = True,
    description: str | None = None,
    actor: str,
) -> SegmentInfo:
    """A static segment of one retention cell's users: the cohort's users active in period `k`
    (`retained`), or the cohort's users who were not (lost by period k)."""
    ids = retention_cell_users(
        wh,
        period=period,
        start=start,
        end=end,
        cohort=cohort,
        k=k,
        basis=basis,
        return_event=return_event,
        unbounded=unbounded,
        filters=filters,
        retained=retained,
    )
    what = "retained" if retained else "not retained"
    if not ids:
        raise InputError(f"no {what} users in that cell; nothing to save")
    source = (
        f"retention by {period} ({basis.replace('_', ' ')}"
        f"{', return event ' + return_event if return_event else ''}"
        f"{', on or after' if unbounded else ''}"
        f"{', ' + '; '.join(filters.as_params()) if filters else ''}): "
        f"cohort {cohort.isoformat()}, period {k}, {what}"
    )
    return create_static_segment(
        engine,
        wh,
        code=code,
        name=name,
        user_ids=ids,
        source=source,
        description=description,
        actor=actor,
    )
