"""Reading a file into a staging relation with a row number and its own column names.

Paths and values reach DuckDB as parameters or through its relational API, never pasted into
SQL; column names from a file are quoted identifiers. Row numbers are what a user can find in
the file: line numbers (header = line 1) for CSV and JSON Lines, 1-based indexes for Parquet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
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
        f"max(error_message) AS error_message FROM {quote_ident(rejects)} "
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
