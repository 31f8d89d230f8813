"""Refreshing tags (`userops tags refresh`, POST /api/tags/refresh, the server's daily job).

One run recomputes the active tags (or the ones asked for) as of a local day D and is recorded
in `refresh_runs` (running, then succeeded, failed or interrupted). Each tag is written on its
own (`tagvalues.replace_values`: values, the history's changes and the snapshot day D in one
DuckDB transaction), so a run stopped at any moment (Ctrl-C, kill, a crash) leaves every tag at
its old values or its new ones. A run found still `running` when the next one starts is marked
`interrupted`.

**Incremental.** A tag is skipped when nothing it reads changed since its last refresh: its
fingerprint (its definition and parameters, D, the warehouse's events, users and identities
as counts and latest write times, the growth system's tables for member tags, other tags'
refresh times for rule tags) equals the one recorded the last time it was written. `force`
recomputes everything. The fingerprint is recorded after the tag is committed, so a run killed
between the two only costs the next run a recomputation.

**Dispatch.** Tags are evaluated by kind through `EVALUATORS` (kind -> a function giving the
tag's rows: an Ibis table or an Arrow table of user_id, value, number): `computed` (the models
of `profiles.computed`, all built on one materialised table of per-user facts per run) and
`rule` (`profiles.ruletags`). Imported tags are written by their import and never refreshed.
After a full run the dynamic segments are refreshed (`profiles.segments`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import ibis.expr.operations as ops
import ibis.expr.types as ir
import orjson
import pyarrow as pa
from sqlalchemy import Engine, func, select, update

from userops.domain.bounds import check_day
from userops.errors import ConflictError, InputError, NotFoundError, UseropsError
from userops.membership.tags import member_tags
from userops.profiles import computed, tagvalues, taxonomy
from userops.profiles.computed import daily
from userops.profiles.computed import membership as member_model
from userops.profiles.computed.facts import Need, user_facts
from userops.profiles.ruletags import evaluate_rule_tag
from userops.profiles.segments import SegmentRefreshError, refresh_dynamic_segments
from userops.store.db import session_scope
from userops.store.models import (
    GrowthEntry,
    MemberLevel,
    PointsEntry,
    RefreshRun,
    RuleApplication,
    TagDefinition,
)
from userops.store.types import utcnow
from userops.warehouse.connection import Warehouse
from userops.warehouse.stamps import states

FACTS: Final = "_uo_facts"
FINGERPRINT_VERSION: Final = 1  # bump when a model's definition changes
HISTORY_RUNS: Final = 200  # how far back a tag's last fingerprint is looked for
SEGMENTS_STEP: Final = "(segments)"

WarehouseUse = Callable[[], AbstractContextManager[Warehouse]]
Progress = Callable[[int, int, str, str], None]  # done, total, tag code, status


@dataclass(frozen=True, slots=True)
class TagSpec:
    """What a refresh needs of one tag: its definition and resolved parameters."""

    code: str
    kind: str
    definition: dict[str, Any]
    params: dict[str, Any]
    problem: str | None = None  # why it cannot be evaluated (its parameters' tag is gone)

    @property
    def model(self) -> str | None:
        return self.definition.get("model") if self.kind == "computed" else None

    @property
    def output(self) -> str:
        return str(self.definition.get("output", "value"))


@dataclass
class RefreshContext:
    """What the evaluators share within one run."""

    engine: Engine
    wh: Warehouse
    today: date
    now: datetime
    tz: ZoneInfo
    needs: frozenset[Need] = frozenset()
    _facts: ir.Table | None = None
    _members: list[dict[str, Any]] | None = None

    def facts(self) -> ir.Table:
        """The per-user facts of this run, materialised once in a temporary table (one row per
        user: checked here, so the models built on them need no check of their own), from the
        warehouse's daily rollup (`computed.daily`), brought up to the events first."""
        if self._facts is None:
            self.wh.duckdb.execute(f"DROP TABLE IF EXISTS temp.main.{FACTS}")
            daily.kept(self.wh)  # the events summed per user and day, brought up to date
            days = self.wh.table(daily.USER_DAYS.name)
            sent = self.wh.table(daily.USER_INVITES.name)
            expr = user_facts(self.wh, self.needs, today=self.today, days=days, sent=sent)
            facts = self.wh.ibis.create_table(FACTS, expr, temp=True)
            total, users = self.wh.sql(
                f"SELECT count(*), count(DISTINCT user_id) FROM temp.main.{FACTS}"  # noqa: S608
            )[0]
            if total != users:
                raise InputError("the per-user facts name a user twice")
            self._facts = facts
        return self._facts

    def member_rows(self) -> list[dict[str, Any]]:
        if self._members is None:
            at = member_model.as_of(self.today, self.now, self.tz)
            self._members = member_tags(self.engine, at=at, tz=self.tz)
        return self._members

    def close(self) -> None:
        if self._facts is not None:
            self.wh.duckdb.execute(f"DROP TABLE IF EXISTS temp.main.{FACTS}")
            self._facts = None


def _over_facts(rows: ir.Table | pa.Table) -> bool:
    """The rows are a model over the run's facts alone, one row per user of them at most (the
    facts are checked to have one row per user; every model keeps to its rows): written
    without a staged copy (`tagvalues.replace_values`, `direct`). A model that reads more
    (the join path reads the users' JSON traits) is staged: read straight into the
    comparison, its plan costs twice the staging."""
    if not isinstance(rows, ir.Table):
        return False
    return {t.name for t in rows.op().find(ops.PhysicalTable)} == {FACTS}


Evaluator = Callable[[RefreshContext, TagSpec], ir.Table | pa.Table]


def evaluate_computed(ctx: RefreshContext, tag: TagSpec) -> ir.Table | pa.Table:
    model = str(tag.model)
    if model == computed.MEMBER_MODEL:
        params = member_model.parse_member(tag.params)
        return member_model.member_values(ctx.member_rows(), tag.output, params)
    m = computed.FACT_MODELS[model]
    return m.build(ctx.facts(), m.parse(tag.params), tag.output, ctx.wh, ctx.today)


def evaluate_rule(ctx: RefreshContext, tag: TagSpec) -> ir.Table:
    return evaluate_rule_tag(ctx.wh, tag.definition, today=ctx.today)


EVALUATORS: Final[dict[str, Evaluator]] = {"computed": evaluate_computed, "rule": evaluate_rule}
KIND_ORDER: Final = {"computed": 0, "rule": 1}  # rule tags may read the computed ones
SegmentRefresh = Callable[[Engine, Warehouse, date], dict[str, int]]


def _refresh_segments(engine: Engine, wh: Warehouse, today: date) -> dict[str, int]:
    return refresh_dynamic_segments(engine, wh, today=today)


SEGMENT_REFRESH: SegmentRefresh | None = _refresh_segments


@dataclass(frozen=True, slots=True)
class TagOutcome:
    code: str
    status: str  # refreshed, skipped, failed
    users: int | None = None
    seconds: float = 0.0
    error: str | None = None
    inputs: str | None = None
    at: datetime | None = None  # when its values were written (their `refreshed_at`)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3)}
        if self.users is not None:
            out["users"] = self.users
        if self.error is not None:
            out["error"] = self.error
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    status: str
    trigger: str
    snapshot_date: date | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: RefreshRun) -> RunInfo:
        return cls(
            row.id,
            row.status,
            row.trigger,
            row.snapshot_date,
            row.started_at,
            row.finished_at,
            row.error,
            dict(row.detail or {}),
        )

    def count(self, status: str) -> int:
        return sum(1 for t in self.detail.get("tags", {}).values() if t.get("status") == status)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "trigger": self.trigger,
            "snapshot_date": self.snapshot_date.isoformat() if self.snapshot_date else None,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "refreshed": self.count("refreshed"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "tags": self.detail.get("tags", {}),
            "segments": self.detail.get("segments"),
        }


# -- fingerprints ----------------------------------------------------------------------------


def _digest(value: Any) -> str:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()[:32]


def warehouse_inputs(wh: Warehouse) -> dict[str, Any]:
    """What the computed tags read, summarised: row counts and latest write times."""
    return {
        table: [count, latest.isoformat() if latest is not None else None]
        for table, (count, latest) in states(wh, ["events", "users", "identities"]).items()
    }


def membership_inputs(engine: Engine) -> dict[str, Any]:
    """What member tags read from the growth system: row counts and highest ids."""
    out: dict[str, Any] = {}
    with session_scope(engine, read_only=True) as session:
        for model in (PointsEntry, GrowthEntry, RuleApplication):
            count, top = session.execute(select(func.count(), func.max(model.id))).one()
            out[model.__tablename__] = [int(count), top]
        levels = session.execute(
            select(MemberLevel.scheme_id, MemberLevel.user_id, MemberLevel.level_id)
        ).all()
        out["member_levels"] = _digest(sorted((s, u, lv or 0) for s, u, lv in levels))
    return out


def _tag_times(wh: Warehouse, codes: list[str]) -> list[Any] | None:
    """What rule tags read of the other tags: their values' count and latest `refreshed_at`
    (a refresh rewrites only changed values, stamped with its start: a changed or added value
    moves the latest time, a value removed the count)."""
    if not codes:
        return None
    t = wh.table("tag_values")
    t = t.filter(t.tag.isin(codes))
    row = t.aggregate(n=t.count(), latest=t.refreshed_at.max()).to_pyarrow().to_pylist()[0]
    latest = row["latest"]
    return [int(row["n"]), latest.isoformat() if latest is not None else None]


def previous_fingerprints(engine: Engine) -> dict[str, str]:
    """Each tag's fingerprint as last recorded (newest run first)."""
    found: dict[str, str] = {}
    with session_scope(engine, read_only=True) as session:
        details = session.scalars(
            select(RefreshRun.detail).order_by(RefreshRun.id.desc()).limit(HISTORY_RUNS)
        )
        for detail in details:
            for code, outcome in (detail or {}).get("tags", {}).items():
                inputs = outcome.get("inputs")
                if inputs and code not in found:
                    found[code] = inputs
    return found


# -- runs ------------------------------------------------------------------------------------

_RUN_LOCK = threading.Lock()
_STOP = threading.Event()


class RefreshInterrupted(UseropsError):
    """The run was asked to stop (the server is shutting down)."""


def _mark_stale_runs(engine: Engine) -> int:
    with session_scope(engine) as session:
        result = session.execute(
            update(RefreshRun)
            .where(RefreshRun.status == "running")
            .values(
                status="interrupted",
                finished_at=utcnow(),
                error="the process stopped before the run ended",
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _start_run(engine: Engine, *, today: date, trigger: str, asked: list[str] | None) -> int:
    with session_scope(engine) as session:
        row = RefreshRun(
            status="running",
            snapshot_date=today,
            trigger=trigger,
            detail={"asked": asked, "tags": {}},
        )
        session.add(row)
        session.flush()
        return int(row.id)


def _record(engine: Engine, run_id: int, outcome: TagOutcome, now: datetime) -> None:
    with session_scope(engine) as session:
        run = session.get(RefreshRun, run_id)
        assert run is not None
        detail = dict(run.detail or {})
        detail["tags"] = {**detail.get("tags", {}), outcome.code: outcome.as_json()}
        run.detail = detail
        if outcome.status == "refreshed":
            tag = session.scalar(select(TagDefinition).where(TagDefinition.code == outcome.code))
            if tag is not None:
                tag.refreshed_at = outcome.at or now
                tag.tagged_users = outcome.users


def _finish(
    engine: Engine,
    run_id: int,
    status: str,
    error: str | None,
    segments: Mapping[str, Any] | None = None,
) -> RunInfo:
    with session_scope(engine) as session:
        run = session.get(RefreshRun, run_id)
        assert run is not None
        run.status = status
        run.finished_at = utcnow()
        run.error = error[:2000] if error else None
        if segments is not None:
            run.detail = {**dict(run.detail or {}), "segments": dict(segments)}
        return RunInfo.of(run)


def _selected(engine: Engine, codes: list[str] | None) -> list[TagSpec]:
    """The tags to refresh: the active daily ones (or `codes`, whatever their schedule),
    computed before rule tags."""
    taxonomy.seed_builtins(engine)
    with session_scope(engine, read_only=True) as session:
        query = select(TagDefinition)
        if codes is None:  # a run over all tags: the active ones on the daily schedule
            query = query.where(
                TagDefinition.is_active.is_(True), TagDefinition.schedule == "daily"
            )
        else:
            query = query.where(TagDefinition.code.in_(codes))
        rows = {r.code: r for r in session.scalars(query)}
        if codes is not None:
            missing = [c for c in codes if c not in rows]
            if missing:
                raise NotFoundError(f"no tag {missing[0]!r}")
            for code in codes:
                if rows[code].kind not in EVALUATORS:
                    raise InputError(
                        f"tag {code!r} is a {rows[code].kind} tag: its values come from "
                        "its import, not from a refresh"
                    )
        specs = []
        for row in rows.values():
            if row.kind not in EVALUATORS:
                continue
            params: dict[str, Any] = {}
            problem = None
            if row.kind == "computed":
                try:
                    params = taxonomy.resolve_params(session, row)
                except InputError as exc:
                    problem = str(exc)
            specs.append(TagSpec(row.code, row.kind, dict(row.definition or {}), params, problem))
    return sorted(specs, key=lambda s: (KIND_ORDER.get(s.kind, 9), s.code))


def _needs(specs: list[TagSpec]) -> frozenset[Need]:
    found: set[Need] = set()
    for spec in specs:
        model = computed.FACT_MODELS.get(str(spec.model)) if spec.kind == "computed" else None
        if model is not None:
            try:
                found |= model.needs(model.parse(spec.params))
            except InputError:
                continue  # reported when the tag itself is evaluated
    return frozenset(found)


def refresh_tags(
    engine: Engine,
    use_warehouse: WarehouseUse,
    *,
    today: date,
    tz: ZoneInfo,
    tags: list[str] | None = None,
    force: bool = False,
    trigger: str = "cli",
    progress: Progress | None = None,
    segments: bool | None = None,
) -> RunInfo:
    """Refresh tags as of local day `today`; see the module's docstring.

    `use_warehouse()` lends the warehouse for one step (the CLI's own connection; in the
    server, the runtime's, under its lock, so ingestion goes on between tags). Dynamic
    segments are refreshed after a run over all tags (`segments` None) or when asked.
    """
    if not _RUN_LOCK.acquire(blocking=False):
        raise ConflictError("a tag refresh is already running in this process")
    try:
        run_id = begin_run(engine, use_warehouse, today=today, tz=tz, trigger=trigger, tags=tags)
        return _execute(
            engine,
            use_warehouse,
            run_id,
            today=today,
            tz=tz,
            tags=tags,
            force=force,
            progress=progress,
            segments=tags is None if segments is None else segments,
        )
    finally:
        _RUN_LOCK.release()


def today_in(tz: ZoneInfo) -> date:
    """The local day now: the last day a run may be dated."""
    return datetime.now(tz).date()


def begin_run(
    engine: Engine,
    use_warehouse: WarehouseUse,
    *,
    today: date,
    tz: ZoneInfo,
    trigger: str,
    tags: list[str] | None,
) -> int:
    """Check the day and the tags asked for, mark runs left `running` as interrupted, record
    a new run. A day after today is refused: its snapshot would become the tags' latest, and
    every later run (of an earlier day) would then leave their current values alone."""
    check_day(today, "date")
    local_today = today_in(tz)
    if today > local_today:
        raise InputError(
            f"cannot refresh as of {today.isoformat()}: it is after today "
            f"({local_today.isoformat()} in {tz.key})"
        )
    with use_warehouse() as wh:
        wh.duckdb  # noqa: B018 -- writes need the DuckDB warehouse: refuse early otherwise
    if tags is not None:
        _selected(engine, tags)
    _mark_stale_runs(engine)
    return _start_run(engine, today=today, trigger=trigger, asked=tags)


def _execute(
    engine: Engine,
    use_warehouse: WarehouseUse,
    run_id: int,
    *,
    today: date,
    tz: ZoneInfo,
    tags: list[str] | None,
    force: bool,
    progress: Progress | None,
    segments: bool,
) -> RunInfo:
    outcomes: list[TagOutcome] = []
    ctx: RefreshContext | None = None
    try:
        specs = _selected(engine, tags)
        total = len(specs) + (1 if segments and SEGMENT_REFRESH is not None else 0)
        previous = {} if force else previous_fingerprints(engine)
        with use_warehouse() as wh:
            base = {"warehouse": warehouse_inputs(wh), "today": today.isoformat()}
        needs_members = any(s.model == computed.MEMBER_MODEL for s in specs)
        members = membership_inputs(engine) if needs_members else None
        rule_inputs = [s.code for s in specs if s.kind != "rule"]
        now = utcnow()
        plan: list[tuple[TagSpec, str]] = []
        for spec in specs:
            basis: dict[str, Any] = {
                "v": FINGERPRINT_VERSION,
                "kind": spec.kind,
                "definition": spec.definition,
                "params": spec.params,
                **base,
            }
            if spec.model == computed.MEMBER_MODEL:
                basis["membership"] = members
            plan.append((spec, _digest(basis)))
        to_compute = [s for s, fp in plan if force or previous.get(s.code) != fp]
        with use_warehouse() as wh:
            ctx = RefreshContext(engine, wh, today, now, tz, _needs(to_compute))
        rules_changed = False
        for done, (spec, fingerprint) in enumerate(plan):
            if _STOP.is_set():
                raise RefreshInterrupted("the server is shutting down")
            if spec.kind == "rule":
                with use_warehouse() as wh:
                    fingerprint = _digest([fingerprint, _tag_times(wh, rule_inputs)])
            unchanged = not force and previous.get(spec.code) == fingerprint
            if unchanged and not (spec.kind == "rule" and rules_changed):
                outcome = TagOutcome(spec.code, "skipped", inputs=fingerprint)
            else:
                outcome = _refresh_one(ctx, use_warehouse, spec, fingerprint)
                rules_changed = rules_changed or (
                    spec.kind == "rule" and outcome.status == "refreshed"
                )
            _record(engine, run_id, outcome, now)
            outcomes.append(outcome)
            if progress is not None:
                progress(done + 1, total, spec.code, outcome.status)
        segment_sizes: dict[str, Any] | None = None
        segment_error = None
        if segments and SEGMENT_REFRESH is not None:
            with use_warehouse() as wh:
                try:
                    segment_sizes = dict(SEGMENT_REFRESH(engine, wh, today))
                except SegmentRefreshError as exc:
                    segment_sizes = {**exc.sizes, "failed": exc.failures}
                    segment_error = str(exc)
            if progress is not None:
                progress(total, total, SEGMENTS_STEP, "failed" if segment_error else "refreshed")
    except (KeyboardInterrupt, RefreshInterrupted):
        _finish(engine, run_id, "interrupted", "stopped before the run ended")
        raise
    except BaseException as exc:
        _finish(engine, run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if ctx is not None:
            _close(ctx, use_warehouse)
    failed = [o for o in outcomes if o.status == "failed"]
    errors = [f"{o.code}: {o.error}" for o in failed]
    if segment_error:
        errors.append(segment_error)
    status = "failed" if errors else "succeeded"
    message = (f"{len(errors)} step(s) failed: " + "; ".join(errors)) if errors else None
    return _finish(engine, run_id, status, message, segment_sizes)


def _close(ctx: RefreshContext, use_warehouse: WarehouseUse) -> None:
    """Drop the run's temporary facts (a closed warehouse dropped them already)."""
    try:
        with use_warehouse() as wh:
            ctx.wh = wh
            ctx.close()
    except Exception:
        return


def _refresh_one(
    ctx: RefreshContext,
    use_warehouse: WarehouseUse,
    spec: TagSpec,
    fingerprint: str,
) -> TagOutcome:
    started = time.perf_counter()
    with use_warehouse() as wh:
        ctx.wh = wh
        try:
            if spec.problem is not None:
                raise InputError(spec.problem)
            rows = EVALUATORS[spec.kind](ctx, spec)
            written = tagvalues.replace_values(
                wh,
                spec.code,
                rows,
                snapshot_date=ctx.today,
                refreshed_at=utcnow(),  # each write its own time: readers see every write
                unique=spec.kind == "computed" and isinstance(rows, ir.Table),
                direct=_over_facts(rows),
            )
        except Exception as exc:  # one failing tag must not stop the others
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return TagOutcome(
                spec.code, "failed", seconds=time.perf_counter() - started, error=message
            )
    return TagOutcome(
        spec.code,
        "refreshed",
        users=written.users,
        seconds=time.perf_counter() - started,
        inputs=fingerprint,
        at=written.refreshed_at,
    )


# -- in the server -----------------------------------------------------------------------------


def launch(
    engine: Engine,
    use_warehouse: WarehouseUse,
    *,
    today: date,
    tz: ZoneInfo,
    tags: list[str] | None = None,
    force: bool = False,
    trigger: str = "api",
) -> int:
    """Start a refresh in a background thread and return its run id at once (the server's
    API: a refresh over millions of users outlasts an HTTP request). One at a time."""
    if not _RUN_LOCK.acquire(blocking=False):
        raise ConflictError("a tag refresh is already running; wait for it to end")
    try:
        run_id = begin_run(engine, use_warehouse, today=today, tz=tz, trigger=trigger, tags=tags)
    except BaseException:
        _RUN_LOCK.release()
        raise

    def work() -> None:
        try:
            _execute(
                engine,
                use_warehouse,
                run_id,
                today=today,
                tz=tz,
                tags=tags,
                force=force,
                progress=None,
                segments=tags is None,
            )
        except BaseException:  # recorded in the run; a thread has no one to tell
            pass
        finally:
            _RUN_LOCK.release()

    _STOP.clear()
    threading.Thread(target=work, name=f"userops-tag-refresh-{run_id}", daemon=True).start()
    return run_id


def stop_background(timeout: float = 60.0) -> None:
    """Ask a background refresh to stop after its current tag, and wait for it (shutdown)."""
    _STOP.set()
    if _RUN_LOCK.acquire(timeout=timeout):
        _RUN_LOCK.release()
    _STOP.clear()


@contextmanager
def lend(wh: Warehouse) -> Iterator[Warehouse]:
    """`use_warehouse` for a process that holds the warehouse itself (the CLI)."""
    yield wh


def list_runs(engine: Engine, *, limit: int = 20) -> list[RunInfo]:
    with session_scope(engine, read_only=True) as session:
        rows = session.scalars(select(RefreshRun).order_by(RefreshRun.id.desc()).limit(limit))
        return [RunInfo.of(r) for r in rows]


def get_run(engine: Engine, run_id: int) -> RunInfo:
    if not 0 < run_id < 2**63:  # past what the database can hold: no such run
        raise NotFoundError(f"no refresh run {run_id}")
    with session_scope(engine, read_only=True) as session:
        row = session.get(RefreshRun, run_id)
        if row is None:
            raise NotFoundError(f"no refresh run {run_id}")
        return RunInfo.of(row)
