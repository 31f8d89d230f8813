"""Warehouse transactions: all or nothing, and bulk commits that a crash cannot split.

The crashes are made exact in a child process that then exits without closing the database:
DuckDB's own fault injection (`debug_checkpoint_abort`) stops a checkpoint commit at each of its
points, and a WAL cut just before its flush marker is what a kill during a logged commit
leaves. The kill test of a real import (tests/ingest/test_atomic_kill.py) hits them at random.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from userops.warehouse.transactions import Bulk, transaction

ROWS = 300_000  # more than two row groups: DuckDB writes them to the file before the commit


def _create(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE events (message_id VARCHAR PRIMARY KEY, anonymous_id VARCHAR)")
    con.execute("CREATE TABLE identities (anonymous_id VARCHAR PRIMARY KEY, user_id VARCHAR)")
    con.execute("INSERT INTO events VALUES ('seed', NULL)")
    con.close()


def _write(con: duckdb.DuckDBPyConnection) -> None:
    """A large append and an upsert, as an import of events and their identity links."""
    con.execute("INSERT INTO events SELECT 'k-' || i, 'a' || (i % 1000) FROM range(?) t(i)", [ROWS])
    con.execute(
        "INSERT INTO identities SELECT 'a' || i, 'u' || i FROM range(1000) t(i) "
        "ON CONFLICT (anonymous_id) DO UPDATE SET user_id = excluded.user_id"
    )


def _counts(path: Path) -> tuple[int, int]:
    con = duckdb.connect(str(path))
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM identities)"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0]), int(row[1])


BEFORE = (1, 0)
AFTER = (1 + ROWS, 1000)


def _settings(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    row = con.execute(
        "SELECT current_setting('checkpoint_threshold'), "
        "current_setting('auto_checkpoint_skip_wal_threshold')::VARCHAR"
    ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


MODES = [None, "checkpoint", "log"]


@pytest.mark.parametrize("bulk", MODES)
def test_commits_when_the_block_ends(tmp_path: Path, bulk: Bulk | None) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    with transaction(con, bulk=bulk):
        _write(con)
    con.close()
    assert _counts(path) == AFTER


@pytest.mark.parametrize("bulk", MODES)
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_rolls_back_when_the_block_raises(
    tmp_path: Path, bulk: Bulk | None, error: type[BaseException]
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    with pytest.raises(error), transaction(con, bulk=bulk):
        _write(con)
        raise error("stop")
    con.close()
    assert _counts(path) == BEFORE


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_checkpoint_commit_skips_the_wal_and_puts_the_settings_back(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    con.execute("SET checkpoint_threshold = '32MB'")
    before = _settings(con)
    with transaction(con, bulk="checkpoint"):
        _write(con)
        assert _settings(con) == ("0 bytes", "0")
    assert _wal_size(path) == 0, "the commit went through the WAL"
    assert _settings(con) == before
    with pytest.raises(RuntimeError), transaction(con, bulk="checkpoint"):
        raise RuntimeError("stop")
    assert _settings(con) == before
    con.close()


def test_a_logged_commit_keeps_its_rows_for_the_wal_and_puts_the_setting_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    con.execute("SET checkpoint_threshold = '1GB'")  # the WAL stays to be looked at
    size = path.stat().st_size
    with transaction(con, bulk="log"):
        _write(con)
        optimistic = con.execute("SELECT current_setting('enable_optimistic_write')").fetchone()
        assert optimistic == (False,)
        assert path.stat().st_size == size  # nothing written to the file before the commit
    assert _wal_size(path) > ROWS * 8  # the rows themselves, not pointers to them
    assert con.execute("SELECT current_setting('enable_optimistic_write')").fetchone() == (True,)
    con.close()


_CHILD = textwrap.dedent(
    """
    import os, sys
    import duckdb
    from tests.warehouse.test_transactions import _write
    from userops.warehouse.transactions import Bulk, transaction
    path, mode, point = sys.argv[1:]
    con = duckdb.connect(path)
    if point == "wal":  # commit into the WAL and leave it there, as a process killed next would
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
    else:
        con.execute("SET debug_checkpoint_abort = ?", [point])
    try:
        with transaction(con, bulk=None if mode == "plain" else mode):
            _write(con)
    except duckdb.Error as exc:
        print(type(exc).__name__, flush=True)
    os._exit(0)  # the process dies here: nothing closed, nothing checkpointed on the way out
    """
)


def _child(path: Path, mode: str, point: str) -> str:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, point],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return child.stdout + child.stderr


def _cut_before_flush(path: Path) -> None:
    """Cut the WAL just before its last entry, the flush marker that ends the commit: what a
    kill between writing a commit's entries and its marker leaves (DuckDB 1.x WAL format: a
    version entry, then entries of [size: u64][checksum: u64][size bytes])."""
    wal = Path(f"{path}.wal")
    data = wal.read_bytes()
    starts, pos = [], 8
    while pos + 16 <= len(data):
        starts.append(pos)
        pos += 16 + int.from_bytes(data[pos : pos + 8], "little")
    assert pos == len(data) and len(starts) > 2, "not the WAL format this test knows"
    last = data[starts[-1] + 16 :]
    assert last.startswith(bytes([0x64, 0x00, 0x64])), "the last entry is not a flush marker"
    wal.write_bytes(data[: starts[-1]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("log", BEFORE),
        # The defect itself (optimistic writes, DuckDB 1.4-1.5): the appended rows come back
        # without the rest of their transaction. Fixed in DuckDB 2.0; this fails then, to say
        # the modes may go.
        pytest.param(
            "plain",
            BEFORE,
            marks=pytest.mark.xfail(strict=True, reason="DuckDB 1.x replays half a commit"),
        ),
    ],
)
def test_a_commit_cut_before_its_flush_marker_leaves_nothing(
    tmp_path: Path, mode: str, expected: tuple[int, int]
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    _child(path, mode, "wal")
    _cut_before_flush(path)
    assert _counts(path) == expected


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("before_header", BEFORE),  # new blocks written, the file's header not yet
        ("after_free_list_write", BEFORE),
        ("before_truncate", AFTER),  # the header written: the commit is in the file
    ],
)
def test_a_crash_during_a_checkpoint_commit_leaves_all_or_nothing(
    tmp_path: Path, point: str, expected: tuple[int, int]
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    out = _child(path, "checkpoint", point.upper())
    assert "FatalException" in out, out  # the abort happened, inside the commit
    assert _counts(path) == expected
