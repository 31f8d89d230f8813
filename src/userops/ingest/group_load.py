"""One group of API requests into the warehouse, in one transaction, with few statements:
the ingestion writer's load (docs/decisions/0005-ingestion-write-path.md).

The rules and loaders are the bulk import's (`rules.normalising_sql`, `loaders`), so a row is
judged exactly as in a file; what differs from `pipeline.import_tables` is only the plumbing,
which per group cost more than the rows: each kind's Arrow table is registered once and
normalised by one statement whose SQL is built once, the events are written by one INSERT,
identities and users only when there are rows for them, and duplicates are found with the
in-memory filter of stored ids (`seen.SeenIds`) instead of a scan of `events.message_id`:
only ids the filter cannot rule out are looked up in the warehouse.

Row numbers (`__row`) are unique across the group; the writer maps them back to requests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from userops.domain.contract import EVENT_FIELDS, USER_FIELDS, RecordKind
from userops.errors import InputError
from userops.ingest import loaders
from userops.ingest.rules import normalising_sql
from userops.ingest.seen import SeenIds
from userops.ingest.sources import StagedSource
from userops.warehouse.schema import EVENTS, quote_ident
from userops.warehouse.transactions import transaction

_INPUT: Final[dict[RecordKind, str]] = {"events": "__http_in_events", "users": "__http_in_users"}
_NORM: Final[dict[RecordKind, str]] = {"events": "__http_norm_events", "users": "__http_norm_users"}
_FIELDS: Final[dict[RecordKind, tuple[str, ...]]] = {
    "events": tuple(EVENT_FIELDS),
    "users": tuple(USER_FIELDS),
}
WITHHELD: Final = "withheld: another row of the same record was rejected"


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a group's load did, by row."""

    rejected: dict[int, str] = field(default_factory=dict)  # row: why (events, or traits: ...)
    duplicates: frozenset[int] = frozenset()  # good rows not written: their id was stored
    inserted: int = 0


class GroupLoad:
    """Loads groups into the warehouse; holds the SQL (built once) and the filter of ids."""

    def __init__(self, *, label: str = "http") -> None:
        self.seen = SeenIds()
        self._threads: int | None = None  # DuckDB's threads before `_single_thread`
        self._norm_sql: dict[RecordKind, str] = {}
        for kind in ("events", "users"):
            staged = StagedSource(
                label, "arrow", _INPUT[kind], {name: "VARCHAR" for name in _FIELDS[kind]}
            )
            body = loaders.FINISHERS[kind](normalising_sql(kind, staged, 0, {}))
            self._norm_sql[kind] = (
                f"CREATE OR REPLACE TEMP TABLE {quote_ident(_NORM[kind])} AS {body}"
            )

    def load(
        self, con: duckdb.DuckDBPyConnection, tables: dict[RecordKind, pa.Table], *, batch: str
    ) -> Loaded:
        """Check and write the group in one transaction: `tables` are rows made by `to_rows`
        (events, and users when there are any), `__row` unique in the group."""
        self._single_thread(con)
        try:
            kinds: list[RecordKind] = []
            for kind in ("events", "users"):
                table = tables.get(kind)
                if table is not None and table.num_rows:
                    con.register(
                        _INPUT[kind],
                        table.append_column("__bad_line", pa.repeat(False, table.num_rows)),
                    )
                    kinds.append(kind)
            if "events" not in kinds:
                return Loaded()
            try:
                with transaction(con):
                    loaded = self._write(con, kinds, batch)
            except BaseException:
                self.seen.forget()
                raise
            return loaded
        except duckdb.Error as exc:
            raise InputError(f"import failed: {str(exc).splitlines()[0]}") from exc
        finally:
            self._clean(con)

    def _single_thread(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run DuckDB on one thread while groups follow each other: a group is a few thousand
        rows, where a second thread costs more CPU than it saves time (measured: +60% CPU on
        the normalising statement), and the other core is busy parsing requests. Switching
        costs a few ms, so it is done once per busy spell, and `relax` switches back."""
        if self._threads is None:
            row = con.execute("SELECT current_setting('threads')").fetchone()
            self._threads = int(row[0]) if row else 1
            con.execute("SET threads = 1")

    def relax(self, con: duckdb.DuckDBPyConnection) -> None:
        """Give DuckDB back its threads (for the console's queries) when the writer is idle."""
        if self._threads is not None:
            with contextlib.suppress(duckdb.Error):  # the connection is closing
                con.execute(f"SET threads = {self._threads}")
            self._threads = None

    def _write(self, con: duckdb.DuckDBPyConnection, kinds: list[RecordKind], batch: str) -> Loaded:
        self.seen.sync(con)
        for kind in kinds:
            con.execute(self._norm_sql[kind])
        rejected = {
            int(row): str(reason)
            for row, reason in con.execute(
                f"SELECT __row, __reason FROM {_NORM['events']} WHERE __reason IS NOT NULL"
            ).fetchall()
        }
        good = con.execute(
            f"SELECT __row, hash(message_id) AS h FROM {_NORM['events']} "
            "WHERE __reason IS NULL ORDER BY __row"
        ).fetchnumpy()
        rows = np.asarray(good["__row"], dtype=np.int64)
        hashes = np.asarray(good["h"], dtype=np.uint64)
        users_rejected: dict[int, str] = {}
        if "users" in kinds:
            users_rejected = {
                int(row): str(reason)
                for row, reason in con.execute(
                    f"SELECT __row, __reason FROM {_NORM['users']} WHERE __reason IS NOT NULL"
                ).fetchall()
            }
        # A record is stored whole or not at all (as `pipeline.import_tables`).
        withheld = sorted(set(users_rejected) - set(rejected))
        if withheld:
            self._mark(con, "events", withheld, WITHHELD)
        if "users" in kinds and rejected:
            self._mark(con, "users", sorted(rejected), WITHHELD)
        valid = np.ones(len(rows), dtype=bool)
        if withheld:
            valid &= ~np.isin(rows, np.asarray(withheld, dtype=np.int64))
        duplicates = self._duplicates(con, rows[valid], hashes[valid])
        if duplicates:
            dup_list = sorted(duplicates)
            if "users" in kinds:
                self._mark(con, "users", dup_list, "duplicate record")
            inserted = _insert_events(con, batch, dup_list)
        else:
            inserted = _insert_events(con, batch, None)
        new = valid.copy()
        if duplicates:
            new &= ~np.isin(rows, np.fromiter(duplicates, dtype=np.int64))
        loaders.link_identities(con, _NORM["events"])
        if "users" in kinds:
            loaders.upsert_users(con, _NORM["users"])
        self.seen.add(hashes[new], inserted)
        reported = {row: reason for row, reason in rejected.items()}
        for row, reason in users_rejected.items():
            reported.setdefault(row, reason if reason.startswith("traits") else f"traits: {reason}")
        return Loaded(
            reported,
            frozenset(duplicates),
            inserted,
        )

    def _duplicates(
        self, con: duckdb.DuckDBPyConnection, rows: np.ndarray, hashes: np.ndarray
    ) -> set[int]:
        """Good rows not to write: a later repeat of an id in the group, or an id stored
        before. Hashes only narrow the search; ids are compared exactly."""
        if not len(rows):
            return set()
        order = np.argsort(hashes, kind="stable")
        sorted_h = hashes[order]
        same = np.zeros(len(rows), dtype=bool)
        if len(rows) > 1:
            eq = sorted_h[1:] == sorted_h[:-1]
            same[order[1:][eq]] = True
            same[order[:-1][eq]] = True
        duplicates: set[int] = set()
        first = np.ones(len(rows), dtype=bool)
        if same.any():
            involved = [int(r) for r in rows[same]]
            ids = dict(
                con.execute(
                    f"SELECT __row, message_id FROM {_NORM['events']} "
                    "WHERE __row IN (SELECT unnest(?))",
                    [involved],
                ).fetchall()
            )
            kept: dict[str, int] = {}
            for row in sorted(involved):
                message_id = ids[row]
                if message_id in kept:
                    duplicates.add(row)
                else:
                    kept[message_id] = row
            later = np.isin(rows, np.fromiter(duplicates, dtype=np.int64, count=len(duplicates)))
            first &= ~later
        candidates = first & self.seen.maybe_stored(hashes)
        if candidates.any():
            stored = con.execute(
                f"SELECT n.__row FROM {_NORM['events']} n "
                "WHERE n.__row IN (SELECT unnest(?)) AND n.message_id IN ("
                "SELECT e.message_id FROM events e WHERE e.message_id IN ("
                f"SELECT message_id FROM {_NORM['events']} WHERE __row IN (SELECT unnest(?))))",
                [[int(r) for r in rows[candidates]]] * 2,
            ).fetchall()
            duplicates.update(int(r[0]) for r in stored)
        return duplicates

    def _mark(
        self, con: duckdb.DuckDBPyConnection, kind: RecordKind, rows: list[int], reason: str
    ) -> None:
        con.execute(
            f"UPDATE {_NORM[kind]} SET __reason = ? "
            "WHERE __reason IS NULL AND __row IN (SELECT unnest(?))",
            [reason, rows],
        )

    def _clean(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop what a group made, so the connection keeps no reference to its data."""
        drops = "; ".join(f"DROP TABLE IF EXISTS {name}" for name in _NORM.values())
        with contextlib.suppress(duckdb.Error):  # the connection is closing
            con.execute(drops)
        for name in _INPUT.values():
            with contextlib.suppress(duckdb.Error):  # not registered in this group
                con.unregister(name)


def _insert_events(con: duckdb.DuckDBPyConnection, batch: str, skip: list[int] | None) -> int:
    cols = ", ".join(quote_ident(c) for c in EVENTS.column_names)
    values = ", ".join(
        "now() AS received_at"
        if c == "received_at"
        else "? AS batch_id"
        if c == "batch_id"
        else quote_ident(c)
        for c in EVENTS.column_names
    )
    where = "__reason IS NULL" + ("" if skip is None else " AND __row NOT IN (SELECT unnest(?))")
    result = con.execute(
        f"INSERT INTO events ({cols}) SELECT {values} FROM {_NORM['events']} WHERE {where}",
        [batch] if skip is None else [batch, skip],
    ).fetchone()
    return int(result[0]) if result else 0
