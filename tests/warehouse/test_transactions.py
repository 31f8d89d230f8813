"""Warehouse transactions: all or nothing, and a bulk commit that a crash cannot split.

The crash cases use DuckDB's own fault injection (`debug_checkpoint_abort`) in a child process
that then exits without closing the database, so each point of the commit is hit exactly; the
kill test of a real import (tests/ingest/test_atomic_kill.py) hits them at random.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from userops.warehouse.transactions import transaction

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


@pytest.mark.parametrize("bulk", [False, True])
def test_commits_when_the_block_ends(tmp_path: Path, bulk: bool) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    with transaction(con, bulk=bulk):
        _write(con)
    con.close()
    assert _counts(path) == AFTER


@pytest.mark.parametrize("bulk", [False, True])
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_rolls_back_when_the_block_raises(
    tmp_path: Path, bulk: bool, error: type[BaseException]
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    with pytest.raises(error), transaction(con, bulk=bulk):
        _write(con)
        raise error("stop")
    con.close()
    assert _counts(path) == BEFORE


def test_a_bulk_commit_skips_the_wal_and_puts_the_settings_back(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    con.execute("SET checkpoint_threshold = '32MB'")
    before = _settings(con)
    with transaction(con, bulk=True):
        _write(con)
        assert _settings(con) == ("0 bytes", "0")
    wal = Path(f"{path}.wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the commit went through the WAL"
    assert _settings(con) == before
    with pytest.raises(RuntimeError), transaction(con, bulk=True):
        raise RuntimeError("stop")
    assert _settings(con) == before
    con.close()


_CHILD = textwrap.dedent(
    """
    import os, sys
    import duckdb
    from tests.warehouse.test_transactions import _write
    from userops.warehouse.transactions import transaction
    con = duckdb.connect(sys.argv[1])
    con.execute("SET debug_checkpoint_abort = ?", [sys.argv[2]])
    try:
        with transaction(con, bulk=True):
            _write(con)
    except duckdb.Error as exc:
        print(type(exc).__name__, flush=True)
    os._exit(0)  # the process dies here: nothing closed, nothing checkpointed on the way out
    """
)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("before_header", BEFORE),  # new blocks written, the file's header not yet
        ("after_free_list_write", BEFORE),
        ("before_truncate", AFTER),  # the header written: the commit is in the file
    ],
)
def test_a_crash_during_a_bulk_commit_leaves_all_or_nothing(
    tmp_path: Path, point: str, expected: tuple[int, int]
) -> None:
    path = tmp_path / "w.duckdb"
    _create(path)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), point.upper()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "FatalException" in child.stdout, child.stdout + child.stderr  # the abort happened
    assert _counts(path) == expected
