"""Run an import: stage every file, normalise and check every row, then load in one transaction.

All or nothing: the writes to the warehouse happen inside a single DuckDB transaction, so a
process killed at any point leaves the warehouse exactly as it was (the commit itself is made
crash-safe by `warehouse.transactions`). The quarantine file is written beside, under a
temporary name, and only given its real name after the commit.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from userops.domain.contract import RecordKind
from userops.domain.imports import ImportSummary
from userops.errors import InputError
from userops.ingest import loaders
from userops.ingest.rules import normalising_sql
from userops.ingest.sources import StagedSource, stage_arrow, stage_source, unstage_arrow
from userops.warehouse.connection import Warehouse
from userops.warehouse.schema import quote_ident
from userops.warehouse.transactions import transaction

Progress = Callable[[str], None]
NORMALISED = "__norm"


def new_batch_id(prefix: str = "imp") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{secrets.token_hex(4)}"


def import_files(
    wh: Warehouse,
    kind: RecordKind,
    paths: Sequence[Path],
    *,
    quarantine_dir: Path,
    mapping: dict[str, str] | None = None,
    strict: bool = False,
    batch_id: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    if not paths:
        raise InputError("no files given")
    step = progress or (lambda _label: None)
    batch = batch_id or new_batch_id()
    con = wh.duckdb
    try:
        sources = []
        for index, path in enumerate(paths):
            step(f"reading {path.name}")
            sources.append(stage_source(con, path, index))
        step("checking rows")
        with _unordered(con):
            _normalise(con, kind, sources, mapping or {})
        structural = _structural_rejects(con, sources)
        if strict:
            _fail_on_first_bad_row(con, sources, structural)
        rejected = _count(con, f"SELECT count(*) FROM {NORMALISED} WHERE __reason IS NOT NULL")
        rejected += len(structural)
        valid = _count(con, f"SELECT count(*) FROM {NORMALISED} WHERE __reason IS NULL")
        pending = _write_quarantine(con, kind, sources, structural, quarantine_dir, batch)
        step("loading")
        with _unordered(con), transaction(con, bulk="checkpoint"):
            written = loaders.LOADERS[kind](con, NORMALISED, batch)
        quarantine = _publish(pending)
        return ImportSummary(
            kind=kind,
            accepted=written,
            rejected=rejected,
            duplicates=valid - written,
            quarantine=quarantine,
            sources=tuple(str(p) for p in paths),
            batch_id=batch,
        )
    except duckdb.Error as exc:
        raise InputError(f"import failed: {str(exc).splitlines()[0]}") from exc
    finally:
        _drop_staging(con, len(paths))


@contextmanager
def _unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write results in any order: every staged row carries its own `__row`, and
    dropping the order constraint lets both cores work on the large statements."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("RESET preserve_insertion_order")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _normalise(
    con: duckdb.DuckDBPyConnection,
    kind: RecordKind,
    sources: list[StagedSource],
    mapping: dict[str, str],
    *,
    target: str = NORMALISED,
) -> None:
    selects = [normalising_sql(kind, s, i, mapping) for i, s in enumerate(sources)]
    union = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
    body = loaders.FINISHERS[kind](union)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(target)} AS {body}")


def _structural_rejects(
    con: duckdb.DuckDBPyConnection, sources: list[StagedSource]
) -> list[tuple[int, int, str]]:
    """CSV lines DuckDB could not split into the header's columns: (source, line, reason)."""
    found: list[tuple[int, int, str]] = []
    for index, source in enumerate(sources):
        if source.fmt != "csv":
            continue
        rows = con.execute(
            f"SELECT line, error_message FROM {quote_ident(source.relation + '_badlines')} "
            "ORDER BY line"
        ).fetchall()
        for line, message in rows:
            found.append((index, int(line), f"malformed CSV line: {str(message).splitlines()[0]}"))
    return found


def _fail_on_first_bad_row(
    con: duckdb.DuckDBPyConnection,
    sources: list[StagedSource],
    structural: list[tuple[int, int, str]],
) -> None:
    row = con.execute(
        f"SELECT __source, __row, __reason FROM {NORMALISED} WHERE __reason IS NOT NULL "
        "ORDER BY __source, __row LIMIT 1"
    ).fetchone()
    candidates = [*structural, *([(int(row[0]), int(row[1]), str(row[2]))] if row else [])]
    if candidates:
        source, line, reason = min(candidates)
        raise InputError(
            f"{sources[source].path}: row {line}: {reason}; nothing was imported (--strict)"
        )


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    kind: RecordKind,
    sources: list[StagedSource],
    structural: list[tuple[int, int, str]],
    quarantine_dir: Path,
    batch: str,
) -> tuple[Path, Path] | None:
    """Write bad rows to `<kind>-<batch>.jsonl.part`; returns (part, final) or None."""
    bad = con.execute(
        f"SELECT __source, __row, __reason FROM {NORMALISED} WHERE __reason IS NOT NULL "
        "ORDER BY __source, __row"
    )
    first = bad.fetchmany(10_000)
    if not first and not structural:
        return None
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    final = quarantine_dir / f"{kind}-{batch}.jsonl"
    part = final.with_name(final.name + ".part")
    with part.open("wb") as out:
        for source, line, reason in structural:
            out.write(_quarantine_line(sources[source].path, line, reason, None))
        chunk = first
        while chunk:
            records = _raw_records(con, sources, chunk)
            for source, row, reason in chunk:
                raw = records.get((int(source), int(row)))
                out.write(_quarantine_line(sources[int(source)].path, int(row), str(reason), raw))
            chunk = bad.fetchmany(10_000)
        out.flush()
        os.fsync(out.fileno())
    return part, final


def _raw_records(
    con: duckdb.DuckDBPyConnection, sources: list[StagedSource], chunk: list[tuple[Any, ...]]
) -> dict[tuple[int, int], Any]:
    """The bad rows as the file had them, so a user can fix and re-import them."""
    found: dict[tuple[int, int], Any] = {}
    by_source: dict[int, list[int]] = {}
    for source, row, _ in chunk:
        by_source.setdefault(int(source), []).append(int(row))
    for index, rows in by_source.items():
        rel = quote_ident(sources[index].relation)
        result = con.execute(
            f"SELECT __row, to_json(s) FROM {rel} s WHERE __row IN (SELECT unnest(?))",
            [rows],
        ).fetchall()
        for row, record in result:
            data = orjson.loads(record)
            data.pop("__row", None)
            data.pop("__bad_line", None)
            found[(index, int(row))] = data
    return found


def _quarantine_line(path: str, row: int, reason: str, record: Any) -> bytes:
    return orjson.dumps({"source": path, "row": row, "reason": reason, "record": record}) + b"\n"


def _publish(pending: tuple[Path, Path] | None) -> str | None:
    if pending is None:
        return None
    part, final = pending
    part.replace(final)
    return str(final)


def _drop_staging(con: duckdb.DuckDBPyConnection, count: int) -> None:
    names = [NORMALISED]
    for index in range(count):
        base = f"__src_{index}"
        names += [base, f"{base}_file"]
        names += [base + s for s in ("_scan", "_lines", "_badlines", "_rejects", "_rejects_scans")]
    for name in names:
        for kind in ("VIEW", "TABLE"):
            try:
                con.execute(f"DROP {kind} IF EXISTS {quote_ident(name)}")
            except duckdb.Error:
                continue  # the name is of the other kind, or the connection is closing


# In-memory tables (the ingestion API) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableImport:
    """What importing one in-memory table did, row by row where a caller must answer per row.

    `rejected` holds the rows the contract's rules refused, with their reasons, by row number;
    `duplicate_rows` (events only) the good rows not written because their message_id was
    already stored, or came earlier in the same import.
    """

    summary: ImportSummary
    rejected: tuple[tuple[int, str], ...]
    duplicate_rows: tuple[int, ...] = ()


def import_table(
    wh: Warehouse,
    kind: RecordKind,
    table: pa.Table,
    *,
    batch_id: str | None = None,
    source: str = "<arrow>",
) -> TableImport:
    """Import an Arrow table of contract columns (text, or typed) like a file: the same rules,
    the same loaders, one transaction. Rows are numbered by the table's `__row` column when it
    has one. Nothing is quarantined: the caller gets each bad row and its reason instead."""
    return import_tables(wh, {kind: table}, batch_id=batch_id, source=source)[kind]


def import_tables(
    wh: Warehouse,
    tables: Mapping[RecordKind, pa.Table],
    *,
    batch_id: str | None = None,
    source: str = "<arrow>",
) -> dict[RecordKind, TableImport]:
    """Import tables of several kinds whose rows describe the same records, in one transaction.

    Rows with the same `__row` in different tables are one record (an identify call is an
    events row and a users row): a row refused by the rules of one kind is withheld from the
    others too, so a record is stored whole or not at all. Its reason is reported under the
    kind whose rule refused it. With events among the tables, a record whose event is a
    duplicate (a retry) writes none of its other rows either.
    """
    if not tables:
        raise InputError("no tables given")
    batch = batch_id or new_batch_id("api")
    con = wh.duckdb
    kinds = list(tables)
    norms = {kind: f"{NORMALISED}_{kind}" for kind in kinds}
    try:
        own: dict[RecordKind, list[tuple[int, str]]] = {}
        for index, kind in enumerate(kinds):
            staged = stage_arrow(con, tables[kind], index, label=source)
            _normalise(con, kind, [staged], {}, target=norms[kind])
            own[kind] = [
                (int(row), str(reason))
                for row, reason in con.execute(
                    f"SELECT __row, __reason FROM {quote_ident(norms[kind])} "
                    "WHERE __reason IS NOT NULL ORDER BY __row"
                ).fetchall()
            ]
        refused = sorted({row for found in own.values() for row, _ in found})
        if len(kinds) > 1 and refused:
            for kind in kinds:
                con.execute(
                    f"UPDATE {quote_ident(norms[kind])} SET __reason = "
                    "'withheld: another row of the same record was rejected' "
                    "WHERE __reason IS NULL AND __row IN (SELECT unnest(?))",
                    [refused],
                )
        valid = {
            kind: _count(
                con,
                f"SELECT count(*) FROM {quote_ident(norms[kind])} WHERE __reason IS NULL",
            )
            for kind in kinds
        }
        written: dict[RecordKind, int] = {}
        duplicates: dict[RecordKind, tuple[int, ...]] = {}
        with transaction(con, bulk="log"):
            # Events first: a record whose event was already stored is a retry, and its other
            # rows (an identify's traits) must not overwrite what came after the original.
            for kind in sorted(kinds, key=lambda k: k != "events"):
                norm = quote_ident(norms[kind])
                if kind != "events" and duplicates.get("events"):
                    con.execute(
                        f"UPDATE {norm} SET __reason = 'duplicate record' "
                        "WHERE __reason IS NULL AND __row IN (SELECT unnest(?))",
                        [list(duplicates["events"])],
                    )
                written[kind] = loaders.LOADERS[kind](con, norm, batch)
                duplicates[kind] = (
                    _duplicate_event_rows(con, norm, batch)
                    if kind == "events" and written[kind] < valid[kind]
                    else ()
                )
    except duckdb.Error as exc:
        raise InputError(f"import failed: {str(exc).splitlines()[0]}") from exc
    finally:
        for index, kind in enumerate(kinds):
            unstage_arrow(con, index)
            con.execute(f"DROP TABLE IF EXISTS {quote_ident(norms[kind])}")
    results: dict[RecordKind, TableImport] = {}
    for kind in kinds:
        rows = tables[kind].num_rows
        summary = ImportSummary(
            kind=kind,
            accepted=written[kind],
            rejected=rows - valid[kind],
            duplicates=valid[kind] - written[kind],
            quarantine=None,
            sources=(source,),
            batch_id=batch,
        )
        results[kind] = TableImport(summary, tuple(own[kind]), duplicates[kind])
    return results


def _duplicate_event_rows(con: duckdb.DuckDBPyConnection, norm: str, batch: str) -> tuple[int, ...]:
    """Good rows the events loader did not write: their message_id was stored before, or an
    earlier row of this import had it (the loader keeps the first by source and row)."""
    rows = con.execute(
        f"""
SELECT __row FROM (
  SELECT __row, message_id,
         row_number() OVER (PARTITION BY message_id ORDER BY __source, __row) AS __nth
  FROM {norm} WHERE __reason IS NULL) n
WHERE __nth > 1 OR message_id NOT IN (SELECT message_id FROM events WHERE batch_id = ?)
ORDER BY __row
""",
        [batch],
    ).fetchall()
    return tuple(int(r[0]) for r in rows)
