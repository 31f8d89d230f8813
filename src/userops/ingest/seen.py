"""Which message ids the warehouse may already hold, known in memory: the ingestion API's
dedup filter (docs/decisions/0005-ingestion-write-path.md).

Deduplicating a group of events against `events.message_id` means scanning that column, whose
cost grows with the warehouse (about a second per commit at 10M events). Almost every id an
SDK sends is new, so the writer asks this filter first: it holds the 64-bit DuckDB `hash()` of
every stored message_id, and an id whose hash is not there is certainly not stored. Only ids
whose hash is there (a retry, or a hash collision: about 1 in 10^12 ids at 10M events) are
checked against the warehouse itself, which stays the judge; so dedup stays exact.

The filter stays right only if it sees every row written to `events`. The writer adds the
hashes of what it inserts, and before each group it compares the table's row count with its
own; any other writer (an import in the same process) makes them differ, and the filter is
built again from the table. Memory: 8 bytes per stored event (80 MB at 10M events).
"""

from __future__ import annotations

from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.uint64]

_MIN_RECENT: Final = 1 << 16


def _sorted(values: Hashes) -> Hashes:
    return np.sort(values.astype(np.uint64, copy=False))


def _merge(a: Hashes, b: Hashes) -> Hashes:
    """Two sorted arrays as one sorted array (linear: a search and one copy)."""
    if not len(b):
        return a
    return np.insert(a, np.searchsorted(a, b), b)


def _member(sorted_values: Hashes, probe: Hashes) -> npt.NDArray[np.bool_]:
    if not len(sorted_values):
        return np.zeros(len(probe), dtype=bool)
    at = np.searchsorted(sorted_values, probe)
    return np.asarray(sorted_values[np.minimum(at, len(sorted_values) - 1)] == probe)


class SeenIds:
    """An exact set of the 64-bit hashes of stored message ids: a large sorted array and a
    small one of recent additions, merged when the small one grows."""

    def __init__(self) -> None:
        self._base: Hashes = np.empty(0, dtype=np.uint64)
        self._recent: Hashes = np.empty(0, dtype=np.uint64)
        self._rows: int | None = None  # rows of `events` the filter reflects; None: not built

    @property
    def rows(self) -> int | None:
        return self._rows

    def sync(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Make the filter reflect `events` (inside the writer's transaction); True when it
        had to be built again (first use, or another writer changed the table)."""
        row = con.execute("SELECT count(*) FROM events").fetchone()
        count = int(row[0]) if row else 0
        if count == self._rows:
            return False
        found = con.execute("SELECT hash(message_id) AS h FROM events").fetchnumpy()["h"]
        self._base = _sorted(np.asarray(found))
        self._recent = np.empty(0, dtype=np.uint64)
        self._rows = count
        return True

    def maybe_stored(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        """For each hash: False when no stored id has it (the id is certainly new)."""
        return _member(self._base, hashes) | _member(self._recent, hashes)

    def add(self, hashes: Hashes, rows: int) -> None:
        """Count `rows` new rows of `events`, whose message ids hash to `hashes`."""
        self._recent = _merge(self._recent, _sorted(hashes))
        if len(self._recent) > max(_MIN_RECENT, len(self._base) // 16):
            self._base = _merge(self._base, self._recent)
            self._recent = np.empty(0, dtype=np.uint64)
        if self._rows is not None:
            self._rows += rows

    def forget(self) -> None:
        """Build again at the next `sync` (after a commit whose outcome is unknown)."""
        self._rows = None
