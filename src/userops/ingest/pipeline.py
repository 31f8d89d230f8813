"""Run an import: stage every file, normalise and check every row, then load in one transaction.

All or nothing: the writes to the warehouse happen inside a single DuckDB transaction, so a
process killed at any point leaves the warehouse exactly as it was (the commit itself is made
crash-safe by `warehouse.transactions`). The quarantine file is written beside, under a
temporary name, and only given its real name after the commit.
"""

from __future__ import annotations

import heapq
import json
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
from userops.ingest.sources import (
    FileLines,
    StagedSource,
    csv_file_lines,
    malformed_lines,
    stage_arrow,
    stage_source,
    unstage_arrow,
)
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
    pending: tuple[Path, Path] | None = None
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
        # committed: from here the quarantine is kept, under its temporary name if need be
        written_part, pending = pending, None
        quarantine = _publish(written_part)
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
        if pending is not None:  # written, but the import failed before its commit
            pending[0].unlink(missing_ok=True)
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


Structural = tuple[int, int, str, str]  # source, DuckDB's line, reason, the record as in the file


def _structural_rejects(
    con: duckdb.DuckDBPyConnection, sources: list[StagedSource]
) -> list[Structural]:
    """CSV records DuckDB could not split into the header's columns."""
    return [
        (index, line, f"malformed CSV line: {message.splitlines()[0]}", raw)
        for index, source in enumerate(sources)
        if source.fmt == "csv"
        for line, message, raw in malformed_lines(con, source)
    ]


def _file_lines(
    con: duckdb.DuckDBPyConnection,
    sources: list[StagedSource],
    rows: dict[int, list[int]],
    structural: list[Structural],
) -> dict[int, FileLines]:
    """The file lines of the reported rows of each CSV source that has any."""
    reported = set(rows) | {entry[0] for entry in structural}
    return {
        index: csv_file_lines(con, sources[index], rows.get(index, []))
        for index in sorted(reported)
        if sources[index].fmt == "csv"
    }


def _line(lines: dict[int, FileLines], source: int, row: int, *, malformed: bool = False) -> int:
    found = lines.get(source)
    return found.line(row, malformed=malformed) if found else row


def _fail_on_first_bad_row(
    con: duckdb.DuckDBPyConnection,
    sources: list[StagedSource],
    structural: list[Structural],
) -> None:
    row = con.execute(
        f"SELECT __source, __row, __reason FROM {NORMALISED} WHERE __reason IS NOT NULL "
        "ORDER BY __source, __row LIMIT 1"
    ).fetchone()
    good = [(int(row[0]), int(row[1]), str(row[2]))] if row else []
    malformed = structural[:1]
    if not good and not malformed:
        return
    lines = _file_lines(con, sources, {s: [r] for s, r, _ in good}, malformed)
    source, line, reason = min(
        [(s, _line(lines, s, r), why) for s, r, why in good]
        + [(s, _line(lines, s, r, malformed=True), why) for s, r, why, _ in malformed]
    )
    raise InputError(
        f"{sources[source].path}: row {line}: {reason}; nothing was imported (--strict)"
    )


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    kind: RecordKind,
    sources: list[StagedSource],
    structural: list[Structural],
    quarantine_dir: Path,
    batch: str,
) -> tuple[Path, Path] | None:
    """Write bad rows, in file order, to `<kind>-<batch>.jsonl.part`; returns (part, final) or
    None. Rows are numbered by their line in the file for CSV (see `csv_file_lines`)."""
    bad = con.execute(
        f"SELECT __source, __row, __reason FROM {NORMALISED} WHERE __reason IS NOT NULL "
        "ORDER BY __source, __row"
    )
    first = bad.fetchmany(10_000)
    if not first and not structural:
        return None
    csv_rows: dict[int, list[int]] = {}
    for index, staged in enumerate(sources):
        if staged.fmt == "csv":
            csv_rows[index] = [
                int(r[0])
                for r in con.execute(
                    f"SELECT __row FROM {NORMALISED} WHERE __reason IS NOT NULL AND __source = ?",
                    [index],
                ).fetchall()
            ]
    lines = _file_lines(con, sources, {i: r for i, r in csv_rows.items() if r}, structural)

    def judged() -> Iterator[tuple[int, int, str, Any, str | None]]:
        chunk = first
        while chunk:
            records = _raw_records(con, sources, chunk)
            for source, row, reason in chunk:
                record, raw = records.get((int(source), int(row)), (None, None))
                yield int(source), _line(lines, int(source), int(row)), str(reason), record, raw
            chunk = bad.fetchmany(10_000)

    malformed = (
        (source, _line(lines, source, line, malformed=True), reason, None, raw)
        for source, line, reason, raw in structural
    )
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    final = quarantine_dir / f"{kind}-{batch}.jsonl"
    part = final.with_name(final.name + ".part")
    try:
        with part.open("wb") as out:
            for at, line, reason, record, raw in heapq.merge(
                malformed, judged(), key=lambda entry: (entry[0], entry[1])
            ):
                out.write(_quarantine_line(sources[at].path, line, reason, record, raw))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part, final


def _raw_records(
    con: duckdb.DuckDBPyConnection, sources: list[StagedSource], chunk: list[tuple[Any, ...]]
) -> dict[tuple[int, int], tuple[Any, str | None]]:
    """The bad rows as the file had them, so a user can fix and re-import them: (the record,
    None), or (None, the line as read) for a JSON Lines line that is not an object."""
    found: dict[tuple[int, int], tuple[Any, str | None]] = {}
    by_source: dict[int, list[int]] = {}
    for source, row, _ in chunk:
        by_source.setdefault(int(source), []).append(int(row))
    for index, rows in by_source.items():
        rel = quote_ident(sources[index].relation)
        result = con.execute(
            f"SELECT __row, __bad_line, to_json(s) FROM {rel} s WHERE __row IN (SELECT unnest(?))",
            [rows],
        ).fetchall()
        unread = [int(row) for row, bad_line, _ in result if bad_line]
        texts: dict[int, str] = {}
        if unread and sources[index].fmt == "jsonl":
            lines = quote_ident(sources[index].relation + "_lines")
            texts = dict(
                con.execute(
                    f"SELECT __row, line FROM {lines} WHERE __row IN (SELECT unnest(?))", [unread]
                ).fetchall()
            )
        for row, bad_line, record in result:
            if bad_line:
                found[(index, int(row))] = (None, texts.get(int(row)))
                continue
            data = _json_record(record)
            if isinstance(data, dict):
                data.pop("__row", None)
                data.pop("__bad_line", None)
            found[(index, int(row))] = (data, None)
    return found


def _json_record(text: str) -> Any:
    """A staged row as DuckDB's JSON, which spells a float column's NaN and Infinity as bare
    words: those become the strings "NaN", "Infinity", "-Infinity"."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text, parse_constant=str)
        except ValueError:
            return text  # not JSON even so: kept as the text DuckDB gave


def _quarantine_line(path: str, row: int, reason: str, record: Any, raw: str | None) -> bytes:
    entry = {"source": path, "row": row, "reason": reason, "record": record, "raw": raw}
    return orjson.dumps(entry) + b"\n"


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
