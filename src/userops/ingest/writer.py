"""Group commit for the ingestion API: one thread writes the rows of many requests at once.

A DuckDB transaction has a fixed cost (planning the checks, the WAL fsync) that one request's
500 events cannot carry alone. So requests hand their messages to a queue, and one writer
thread takes everything queued (up to `max_rows`), checks and loads it in one transaction
(`group_load.GroupLoad`: the bulk import's rules and loaders), and only after the commit
answers each request with its own counts. Under load, what queued while the previous commit
ran is the next group, joined by the requests being parsed at that moment (`arriving`),
waited for up to `gather_wait`; an idle server writes a request at once.

If a group fails, its requests are retried one by one, so one request that breaks the writer
cannot fail the others; a request whose own write fails gets the error (nothing of it stored).
See docs/decisions/0005-ingestion-write-path.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from userops.domain.contract import RecordKind
from userops.errors import UseropsError
from userops.ingest.group_load import GroupLoad, Loaded
from userops.ingest.payloads import Rows
from userops.ingest.pipeline import new_batch_id
from userops.warehouse.connection import Warehouse

WarehouseAccess = Callable[[], AbstractContextManager[Warehouse]]
AfterCommit = Callable[[Warehouse, str], object]
_log = logging.getLogger(__name__)


class WriterUnavailable(UseropsError):
    """The writer cannot take a request now; the client should retry."""


class WriterClosed(WriterUnavailable):
    """The writer is stopping (the server is shutting down)."""


class WriterBusy(WriterUnavailable):
    """More rows are waiting to be written than the writer may hold."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request's share of a commit: counts of its events and its rejected items.

    `rejected` pairs a row number of the request's tables (`__row`) with the reason.
    """

    accepted: int
    duplicates: int
    rejected: tuple[tuple[int, str], ...]


@dataclass
class _Job:
    rows: Rows
    future: Future[Outcome] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return int(self.rows.events.num_rows)


class GroupWriter:
    """The single writer of the ingestion API; `submit` from any thread, `close` to drain."""

    def __init__(
        self,
        warehouse: WarehouseAccess,
        *,
        max_rows: int = 50_000,
        max_queued_rows: int = 250_000,
        gather_wait: float = 0.05,
        source: str = "http",
        after_commit: AfterCommit | None = None,
    ):
        self._warehouse = warehouse
        self._after_commit = after_commit
        self._max_rows = max_rows
        self._max_queued = max_queued_rows
        self._gather_wait = gather_wait
        self._arriving = 0
        self._load = GroupLoad(label=source)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="userops-ingest-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Rows) -> Future[Outcome]:
        """Queue one request's rows; the future resolves after they are committed."""
        job = _Job(rows)
        with self._lock:
            if self._closed:
                raise WriterClosed("the server is shutting down; retry")
            if self._queued and self._queued + job.size > self._max_queued:
                raise WriterBusy(
                    f"{self._queued} events are waiting to be written; retry in a moment"
                )
            self._queued += job.size
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 60.0) -> None:
        """Refuse new requests, write everything queued, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request being read and parsed, so the writer may wait a moment for it."""
        with self._lock:
            self._arriving += 1
        try:
            yield
        finally:
            with self._lock:
                self._arriving -= 1

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            job = carry if carry is not None else self._queue.get()
            carry = None
            if job is None:  # closed: everything queued before this was written
                return
            group, rows, stop = self._gather(job)
            if isinstance(stop, _Job):
                carry, stop = stop, False
            # A request given up on (its future cancelled) is not written; the others can no
            # longer be cancelled, so their answer is always delivered.
            live = [j for j in group if j.future.set_running_or_notify_cancel()]
            if live:
                self._write(live)
            with self._lock:
                self._queued -= rows  # queued or being written: what the bound counts
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], int, bool | _Job]:
        """The next group: `first`, what is queued, and what is being parsed right now (for
        up to `gather_wait`). Returns the group, its rows, and True (stop after it) or a job
        that did not fit (it starts the next group)."""
        group, rows = [first], first.size
        deadline = time.monotonic() + self._gather_wait
        while rows < self._max_rows:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if self._arriving == 0 or remaining <= 0:
                    break
                try:  # look again at `arriving` every few ms: a request may end in a 400
                    nxt = self._queue.get(timeout=min(remaining, 0.005))
                except queue.Empty:
                    continue
            if nxt is None:
                return group, rows, True
            if rows + nxt.size > self._max_rows:
                return group, rows, nxt
            group.append(nxt)
            rows += nxt.size
        return group, rows, False

    def _write(self, group: list[_Job]) -> None:
        try:
            outcomes = self._commit(group)
        except BaseException as exc:
            if len(group) > 1:
                for job in group:
                    self._write([job])
                return
            group[0].future.set_exception(exc)
            return
        for job, outcome in zip(group, outcomes, strict=True):
            job.future.set_result(outcome)

    def _commit(self, group: list[_Job]) -> list[Outcome]:
        offsets, offset = [], 0
        for job in group:
            offsets.append(offset)
            offset += job.rows.items
        tables: dict[RecordKind, pa.Table] = {"events": _stack(group, offsets, "events")}
        users = _stack(group, offsets, "users")
        if users.num_rows:
            tables["users"] = users
        batch = new_batch_id("http")
        with self._warehouse() as wh:
            loaded = self._load.load(wh.duckdb, tables, batch=batch)
            if self._after_commit is not None and loaded.inserted:
                self._run_after_commit(wh, batch)
            if self._queue.empty():  # idle: the console's queries get all threads again
                self._load.relax(wh.duckdb)
        return [
            _share(loaded, job, start, start + job.rows.items)
            for job, start in zip(group, offsets, strict=True)
        ]

    def _run_after_commit(self, wh: Warehouse, batch: str) -> None:
        """Best effort: the events are committed whatever happens here, and whatever a hook
        (the incentive rules) misses is caught up by its own backfill, exactly once."""
        assert self._after_commit is not None
        try:
            self._after_commit(wh, batch)
        except Exception:
            _log.exception("after-commit hook failed for batch %s; a backfill will catch up", batch)


def _stack(group: list[_Job], offsets: list[int], kind: str) -> pa.Table:
    """The group's tables of one kind as one, with `__row` made unique across requests."""
    parts = []
    for job, offset in zip(group, offsets, strict=True):
        table: pa.Table = getattr(job.rows, kind)
        if offset:
            index = table.schema.get_field_index("__row")
            table = table.set_column(index, "__row", pc.add(table["__row"], offset))
        parts.append(table)
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _share(loaded: Loaded, job: _Job, start: int, end: int) -> Outcome:
    """The rows of one request (start < __row <= end), numbered again from its own 1."""
    rejected = tuple(
        sorted(
            (row - start, reason) for row, reason in loaded.rejected.items() if start < row <= end
        )
    )
    duplicates = sum(1 for row in loaded.duplicates if start < row <= end)
    return Outcome(
        accepted=job.size - len(rejected) - duplicates,
        duplicates=duplicates,
        rejected=rejected,
    )
