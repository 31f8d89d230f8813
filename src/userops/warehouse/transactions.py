"""DuckDB transactions for the warehouse's writes, and what makes a large one crash-safe.

`transaction(con)` is one DuckDB transaction: committed when the block ends, rolled back when it
raises (KeyboardInterrupt included).

`transaction(con, bulk=True)` is for writes of more than one row group (122,880 rows): an
import, a tag refresh, a segment's members. DuckDB writes such appends into the database file
before the commit ("optimistic writes") and, at the commit, logs pointers to them in the WAL
(`ROW_GROUP_DATA` entries) followed by the other changes and a final flush marker. DuckDB 1.4
and 1.5 replay those pointers after a crash even when the flush marker never made it to the
WAL, while dropping the transaction's other changes, so a process killed during such a commit
can come back with the appended rows and without the rest of its transaction (seen: an import's
events without its identity links). DuckDB 2.0 discards the unfinished transaction whole;
upstream: duckdb/duckdb pull request 25931. Ibis 12 does not run on DuckDB 2 yet.

A bulk transaction therefore asks DuckDB to commit by checkpointing straight into the database
file, without writing the WAL: a checkpoint becomes visible only when it writes the file's
header, so a kill before that leaves the previous state and a kill after it the new one. The
two settings are global to the database and are put back when the transaction ends. DuckDB can
only checkpoint when no other transaction is open on the database; when one is (a server
answering a read at that very moment), it falls back to the WAL and the narrow window above
remains until DuckDB 2 (docs/decisions/0008-crash-safe-bulk-commits.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

# Commit a bulk transaction by a checkpoint (any WAL size is "over the threshold") and never
# through the WAL (any estimated WAL size is "large enough to skip it").
_BULK_SETTINGS = {"checkpoint_threshold": "0b", "auto_checkpoint_skip_wal_threshold": "0"}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, bulk: bool = False) -> Iterator[None]:
    restore = _apply(con, _BULK_SETTINGS) if bulk else {}
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
