"""DuckDB transactions for the warehouse's writes, and what makes a large one crash-safe.

`transaction(con)` is one DuckDB transaction: committed when the block ends, rolled back when it
raises (KeyboardInterrupt included).

A large write needs more. DuckDB writes an append of more than one row group (122,880 rows)
into the database file before the commit ("optimistic writes") and, at the commit, logs
pointers to those row groups in the WAL (`ROW_GROUP_DATA`) besides the transaction's other
changes, then a flush marker. DuckDB 1.4 and 1.5 replay the pointers after a crash even when
the flush marker never reached the WAL, while dropping the transaction's other changes: a
process killed during such a commit comes back with the appended rows and without the rest
(seen: an import's events without its identity links). DuckDB 2.0 drops the unfinished
transaction whole (upstream: duckdb/duckdb pull request 25931); Ibis 12 does not run on DuckDB
2 yet. So a large write says how it commits (docs/decisions/0008-crash-safe-bulk-commits.md):

- `bulk="checkpoint"`, for one large commit (an import): the commit is a checkpoint written
  straight into the database file, without the WAL; it becomes visible only when the file's
  header is written, so a kill leaves the old state or the new one. Optimistic writes stay, so
  the appended rows never pile up in memory; each commit costs a checkpoint's file syncs.
- `bulk="log"`, for a series of medium commits (a tag's values, a segment's members): no
  optimistic writes, so the appended rows wait in memory and go into the WAL as rows, whose
  replay is all or nothing; each commit costs one WAL write.

The settings are global to the database and are put back when the transaction ends. DuckDB can
only checkpoint when no other transaction is open: when one is (a server answering a read at
that moment), a `checkpoint` commit goes through the WAL with the window above; the CLI holds
the warehouse alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

import duckdb

Bulk = Literal["checkpoint", "log"]
_BULK_SETTINGS: Final[dict[Bulk, dict[str, str]]] = {
    # any WAL size is over the threshold, and any estimated size large enough to skip the WAL
    "checkpoint": {"checkpoint_threshold": "0b", "auto_checkpoint_skip_wal_threshold": "0"},
    "log": {"enable_optimistic_write": "false"},
}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, bulk: Bulk | None = None) -> Iterator[None]:
    restore = _apply(con, _BULK_SETTINGS[bulk]) if bulk else {}
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        _apply(con, restore)


def _apply(con: duckdb.DuckDBPyConnection, settings: dict[str, str]) -> dict[str, str]:
    """Set each setting; return their previous values."""
    previous = {}
    for name, value in settings.items():
        row = con.execute("SELECT current_setting(?)", [name]).fetchone()
        previous[name] = str(row[0]) if row else value
        # Setting names cannot be parameters; these come from this module only.
        con.execute(f"SET {name} = ?", [value])
    return previous
