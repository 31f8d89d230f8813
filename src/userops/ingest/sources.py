"""Reading a file into a staging relation with a row number and its own column names.

Paths and values reach DuckDB as parameters or through its relational API, never pasted into
SQL; column names from a file are quoted identifiers. Row numbers are what a user can find in
the file: line numbers (header = line 1) for CSV and JSON Lines, 1-based indexes for Parquet.
A staged CSV row counts records as DuckDB reads them, which drifts from the file's lines after a
quoted field spanning lines or a blank line; `csv_file_lines` finds the true lines of the rows
an import reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from userops.errors import InputError
from userops.warehouse.schema import quote_ident

Format = Literal["csv", "jsonl", "parquet", "arrow"]  # arrow: an in-memory table (HTTP API)
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True, slots=True)
class StagedSource:
    path: str
    fmt: Format
    relation: str  # a temp table or view with `__row`, `__bad_line` and the file's columns
    columns: dict[str, str]  # the file's column names -> DuckDB type names


def detect_format(path: Path) -> Format:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix!r}; use .csv, .jsonl (.ndjson) or .parquet"
        )
    return fmt


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {quote_ident(relation)}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows if str(r[0]) not in {"__row", "__bad_line"}}


def stage_source(con: duckdb.DuckDBPyConnection, path: Path, index: int) -> StagedSource:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = detect_format(path)
    name = f"__src_{index}"
    try:
        if fmt == "parquet":
            _stage_parquet(con, path, name)
        elif fmt == "csv":
            _stage_csv(con, path, name)
        else:
            _stage_jsonl(con, path, name)
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read as {fmt}: {str(exc).splitlines()[0]}") from exc
    return StagedSource(str(path), fmt, name, _describe(con, name))


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    con.read_parquet(str(path), file_row_number=True).create_view(f"{name}_file")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS "
        f"SELECT file_row_number + 1 AS __row, FALSE AS __bad_line, "
        f"* EXCLUDE (file_row_number) FROM {quote_ident(name + '_file')}"
    )


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Rows with too many fields go to a rejects table with their line; the rest keep theirs."""
    rejects = f"{name}_rejects"
    scan = f"{name}_scan"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(scan)} AS "
        f"SELECT row_number() OVER () AS __n, * FROM read_csv(?, all_varchar = true, "
        f"header = true, store_rejects = true, "
        f"rejects_table = '{rejects}', rejects_scan = '{rejects}_scans')",
        [str(path)],
    )
    # Good row n sits on line n + 1 + (number of rejected lines before it).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(name + '_badlines')} AS "
        f"SELECT line, line - 1 - row_number() OVER (ORDER BY line) AS goods_before, "
        f"max(error_message) AS error_message, "
        # the record as in the file, without the blank lines DuckDB puts before it
        f"ltrim(max(csv_line), chr(13) || chr(10)) AS csv_line, "
        f"min(line_byte_position) AS byte_position FROM {quote_ident(rejects)} "
        f"GROUP BY line"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS "
        f"SELECT __n + 1 + (SELECT count(*) FROM {quote_ident(name + '_badlines')} b "
        f"WHERE b.goods_before < s.__n) AS __row, FALSE AS __bad_line, * EXCLUDE (__n) "
        f"FROM {quote_ident(scan)} s"
    )


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    lines = f"{name}_lines"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(lines)} AS "
        "SELECT __row, TRY_CAST(line AS JSON) AS j, line FROM ("
        "SELECT row_number() OVER () AS __row, line FROM read_csv(?, "
        "columns = {'line': 'VARCHAR'}, delim = chr(30), quote = '', escape = '', "
        "header = false, auto_detect = false, strict_mode = false)) WHERE trim(line) <> ''",
        [str(path)],
    )
    keys = [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT unnest(json_keys(j)) AS k FROM {quote_ident(lines)} "
            "WHERE json_type(j) = 'OBJECT' ORDER BY k"
        ).fetchall()
    ]
    # Scalars come out as text (as a CSV cell would); objects and arrays stay JSON.
    select = [
        f"CASE WHEN json_type(j, ?) IN ('OBJECT', 'ARRAY') THEN json_extract(j, ?)::VARCHAR "
        f"ELSE json_extract_string(j, ?) END AS {quote_ident(k)}"
        for k in keys
    ]
    params: list[str] = []
    for k in keys:
        params += [_json_pointer(k)] * 3
    cols = ", ".join(["__row", "coalesce(json_type(j) <> 'OBJECT', TRUE) AS __bad_line", *select])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS "
        f"SELECT {cols} FROM {quote_ident(lines)}",
        params,
    )


def stage_arrow(
    con: duckdb.DuckDBPyConnection, table: pa.Table, index: int, *, label: str = "<arrow>"
) -> StagedSource:
    """An in-memory Arrow table (the ingestion API's rows) as a staged source.

    Row numbers come from the table's `__row` column when it has one (the API numbers an item
    by its place in the request), else 1..n. Every row is a record (`__bad_line` is FALSE):
    whatever could not become a row was refused before it got here.
    """
    name = f"__src_{index}"
    con.register(f"{name}_arrow", table)
    row = "__row" if "__row" in table.column_names else "row_number() OVER ()"
    excluded = " EXCLUDE (__row)" if "__row" in table.column_names else ""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS "
        f"SELECT {row} AS __row, FALSE AS __bad_line, *{excluded} "
        f"FROM {quote_ident(name + '_arrow')}"
    )
    return StagedSource(label, "arrow", name, _describe(con, name))


def unstage_arrow(con: duckdb.DuckDBPyConnection, index: int) -> None:
    """Drop what `stage_arrow` made, so the connection holds no reference to the table."""
    name = f"__src_{index}"
    con.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
    with contextlib.suppress(duckdb.Error):  # already gone
        con.unregister(f"{name}_arrow")


def csv_structural_rejects(con: duckdb.DuckDBPyConnection, source: StagedSource) -> str | None:
    """Name of the table of CSV lines DuckDB could not split into the header's columns."""
    return f"{source.relation}_badlines" if source.fmt == "csv" else None


def malformed_lines(
    con: duckdb.DuckDBPyConnection, source: StagedSource
) -> list[tuple[int, str, str]]:
    """The CSV records DuckDB could not split into the header's columns: (DuckDB's line, its
    message, the record as in the file). DuckDB keeps at most `_KEPT_CHARS` characters of a
    record; a longer one is read again from the file."""
    rows = con.execute(
        f"SELECT line, error_message, csv_line, byte_position "
        f"FROM {quote_ident(source.relation + '_badlines')} ORDER BY line"
    ).fetchall()
    return [
        (int(line), str(message), _whole_record(source.path, int(offset), str(text or "")))
        for line, message, text, offset in rows
    ]


_KEPT_CHARS = 10_000  # DuckDB's rejects table cuts `csv_line` at this length
_CHUNK = 1 << 24


def _whole_record(path: str, position: int, kept: str) -> str:
    """A malformed record DuckDB cut at `_KEPT_CHARS` read again from the file, from its
    position (DuckDB's, 1-based) to the first line break outside double quotes; what DuckDB
    kept when the file does not have it there."""
    if len(kept) < _KEPT_CHARS:
        return kept
    with open(path, "rb") as file:
        file.seek(max(position - 1, 0))
        data = b""
        done = quotes = 0
        while chunk := file.read(1 << 16):
            data = data + chunk if data else chunk.lstrip(b"\r\n")
            while (end := data.find(b"\n", done)) != -1:
                quotes += data.count(b'"', done, end)
                done = end + 1
                if quotes % 2 == 0:
                    data = data[:end].rstrip(b"\r")
                    break
            else:
                continue
            break
    text = data.decode("utf-8", "replace")
    return text if text.startswith(kept) else kept


def _line_count(path: str) -> tuple[int, bool]:
    """How many lines a file has, and whether it has a backslash before a double quote."""
    lines, last, escaped = 0, b"\n", False
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
            escaped = escaped or b'\\"' in chunk
    return lines + (last != b"\n"), escaped


@dataclass(frozen=True, slots=True)
class FileLines:
    """The file lines some rows of a staged CSV start on (the header is line 1).

    A staged CSV row's `__row`, and a malformed record's line, count records (and, for the
    latter, blank lines) as DuckDB reads them: each record is one line there, so they drift
    from the file's lines after a quoted field that spans lines. `good` maps a good row's
    `__row`, `malformed` a malformed record's DuckDB line, to its line in the file.
    """

    good: dict[int, int]
    malformed: dict[int, int]

    def line(self, row: int, *, malformed: bool = False) -> int:
        return (self.malformed if malformed else self.good).get(row, row)


def csv_file_lines(
    con: duckdb.DuckDBPyConnection, source: StagedSource, rows: Iterable[int]
) -> FileLines:
    """The file lines of the given good rows and of every malformed record of a staged CSV.

    Only an import that reports rows of a CSV reads its file again: a count of its lines tells
    whether each record is one line (then DuckDB's numbers are right); if not, one pass over the
    file's bytes tells the line breaks inside double-quoted fields from those ending a record,
    and DuckDB's blank lines from records (about 1 s a 250 MB file). If that pass does not find
    the records DuckDB found (a file quoted with another character, or escaping quotes with a
    backslash), DuckDB's numbers are kept.
    """
    found = con.execute(
        f"SELECT line, csv_line FROM {quote_ident(source.relation + '_badlines')} ORDER BY line"
    ).fetchall()
    malformed = np.array([r[0] for r in found], dtype=np.int64)
    # the start of each malformed record's first line, to check the pass finds it where it is
    heads = [str(r[1] or "").split("\n")[0].rstrip("\r")[:200].encode() for r in found]
    count = con.execute(f"SELECT count(*) FROM {quote_ident(source.relation + '_scan')}").fetchone()
    goods = int(count[0]) if count else 0
    lines_in_file, escaped = _line_count(source.path)
    if lines_in_file <= 1 + goods + len(malformed) or escaped:
        # a line per record: DuckDB's numbers are the file's lines; or quotes escaped with a
        # backslash, which the pass cannot follow
        return FileLines({}, {})
    wanted = np.unique(np.fromiter(rows, dtype=np.int64))
    # a good row's place among the good records: its __row less the header and the malformed
    # records DuckDB counted before it
    nth = wanted - 1 - np.searchsorted(malformed, wanted)
    good_lines = np.zeros(len(wanted), dtype=np.int64)
    bad_lines = np.zeros(len(malformed), dtype=np.int64)
    lines = outside = found_goods = found_bad = quotes = 0
    header = True
    with open(source.path, "rb") as file:
        tail = b""
        while True:
            chunk = file.read(_CHUNK)
            buf = tail + chunk
            cut = len(buf) if not chunk else buf.rfind(b"\n") + 1
            buf, tail = buf[:cut], buf[cut:]
            if buf:
                a = np.frombuffer(buf, dtype=np.uint8)
                ends = np.flatnonzero(a == 10)
                if not len(ends) or ends[-1] != len(a) - 1:
                    ends = np.append(ends, len(a))  # the last line, without a line break
                starts = np.concatenate(([0], ends[:-1] + 1))
                quote_at = np.flatnonzero(a == 34)
                free = (quotes + np.searchsorted(quote_at, starts)) % 2 == 0
                size = ends - starts
                blank = (size == 0) | ((size == 1) & (a[np.minimum(starts, len(a) - 1)] == 13))
                duck = outside + np.cumsum(free)  # DuckDB's line: records and blank lines
                starting = free & ~blank
                at = lines + 1 + np.flatnonzero(starting)
                duck_at = duck[starting]
                if header and len(at):
                    at, duck_at, header = at[1:], duck_at[1:], False
                bad = np.isin(duck_at, malformed)
                which = np.searchsorted(malformed, duck_at[bad])
                bad_lines[which] = at[bad]
                found_bad += int(bad.sum())
                # byte offsets of the malformed records (the header, if dropped, came first)
                offsets = starts[starting][-len(bad) :][bad] if len(bad) else starts[:0]
                if any(
                    not buf.startswith(heads[i], int(o))
                    for i, o in zip(which.tolist(), offsets.tolist(), strict=True)
                ):
                    return FileLines({}, {})
                good_at = at[~bad]
                hit = (nth > found_goods) & (nth <= found_goods + len(good_at))
                good_lines[hit] = good_at[nth[hit] - found_goods - 1]
                found_goods += len(good_at)
                lines += len(starts)
                outside = int(duck[-1])
                quotes += len(quote_at)
            if not chunk:
                break
    if found_goods != goods or found_bad != len(malformed):
        return FileLines({}, {})
    return FileLines(
        dict(zip(wanted.tolist(), good_lines.tolist(), strict=True)),
        dict(zip(malformed.tolist(), bad_lines.tolist(), strict=True)),
    )
