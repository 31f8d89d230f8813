"""How readers tell whether a warehouse table changed: its row count and latest write time.

Every write to these tables stamps the time it ran (`events.received_at` at ingestion,
`users.updated_at` on every upsert, `identities.linked_at`, `tag_values.refreshed_at`,
`segment_members.added_at`), so the pair changes with every write that adds or removes a row
or sets a newer one. What keeps something derived from a table compares the pair it was built
from with the current one: the event index and the daily rollup (events appended since?), the
tags' refresh fingerprints, the live count's population. DuckDB answers the pair from its
statistics, well under a millisecond, for a table only ever appended to. `tag_values` has
deleted rows (each refresh deletes the changed values), where the pair is a scan (25 ms at 17M
values): its writer keeps the pair instead (`tag_values_state`: writes so far and the latest
stamp, updated in each write's transaction, `profiles.tagvalues`), so a write made around it
(plain SQL) is not seen until the next write through it.
"""

from __future__ import annotations

from typing import Any, Final

import duckdb

from userops.warehouse.connection import Warehouse

STAMPED: Final = {
    "events": "received_at",
    "users": "updated_at",
    "identities": "linked_at",
    "tag_values": "refreshed_at",
    "segment_members": "added_at",
}


# kept by the table's writer in each write's transaction: (writes so far, latest stamp)
KEPT: Final = {"tag_values": "SELECT 'tag_values', writes, latest FROM tag_values_state"}


def states(wh: Warehouse, tables: list[str]) -> dict[str, tuple[int, Any]]:
    """Each table's row count and latest write time, in one statement; for `tag_values`, the
    writes its writer counted and their latest stamp (`profiles.tagvalues`), when it keeps
    them."""
    try:
        return _states(wh, tables, kept=True)
    except duckdb.CatalogException:  # no state kept here yet (a warehouse never written since)
        return _states(wh, tables, kept=False)


def _query(table: str, *, kept: bool) -> str:
    if kept and table in KEPT:
        return KEPT[table]
    # table and column names from STAMPED only
    return f"SELECT '{table}', count(*), max({STAMPED[table]}) FROM {table}"  # noqa: S608


def _states(wh: Warehouse, tables: list[str], *, kept: bool) -> dict[str, tuple[int, Any]]:
    query = " UNION ALL ".join(_query(t, kept=kept) for t in tables)
    found = {str(name): (int(count), latest) for name, count, latest in wh.sql(query)}
    return found if set(found) == set(tables) else _states(wh, tables, kept=False)


def state(wh: Warehouse, table: str) -> tuple[int, Any]:
    """The table's row count and latest write time."""
    return states(wh, [table])[table]
