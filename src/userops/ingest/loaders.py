"""The writes of each record kind, run inside the import's transaction.

Events are append-only and deduplicated on message_id (within the batch and against the
warehouse). Users and items are upserted on their key: a NULL cell keeps the stored value, JSON
bags are merged, and a row that would change nothing counts as a duplicate, so importing the same
file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from userops.warehouse.schema import EVENTS, ITEMS, USERS, Table, quote_ident


def _row_count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _finish_events(union: str) -> str:
    """Give rows without a message_id a deterministic one made from their content."""
    content = (
        "concat_ws(chr(31), type, event, user_id, anonymous_id, previous_id, group_id, "
        "epoch_us(timestamp)::VARCHAR, properties::VARCHAR, context::VARCHAR)"
    )
    return (
        f"SELECT * REPLACE (coalesce(message_id, 'h-' || md5({content})) AS message_id) "
        f"FROM ({union})"
    )


def _identity(union: str) -> str:
    return union


def _load_events(con: duckdb.DuckDBPyConnection, norm: str, batch: str) -> int:
    """Insert the first valid row of each new message_id.

    Done in narrow steps (hashes, ids and row keys only) rather than one window over the wide
    rows: the later repeats of an id within the batch, then the ids the warehouse already has
    (probing the warehouse with the batch's ids), then one insert leaving both out.
    """
    # Repeats within the batch: grouping 64-bit hashes is far cheaper than grouping the id
    # strings, and only ids whose hash repeats are then compared exactly.
    con.execute(
        f"""
CREATE OR REPLACE TEMP TABLE __later AS
SELECT __key FROM (
  SELECT __key, row_number() OVER (PARTITION BY message_id ORDER BY __key) AS __nth
  FROM {norm}
  WHERE __reason IS NULL AND hash(message_id) IN (
    SELECT h FROM (SELECT hash(message_id) AS h FROM {norm} WHERE __reason IS NULL)
    GROUP BY h HAVING count(*) > 1))
WHERE __nth > 1
"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __seen AS SELECT DISTINCT e.message_id FROM events e "
        f"WHERE e.message_id IN (SELECT message_id FROM {norm} WHERE __reason IS NULL)"
    )
    cols = ", ".join(quote_ident(c) for c in EVENTS.column_names)
    inserted = _row_count(
        con.execute(
            f"""
INSERT INTO events ({cols})
SELECT n.message_id, type, event, user_id, anonymous_id, previous_id, group_id, timestamp,
       now() AS received_at, revenue, currency, item_id, category, properties, context,
       ? AS batch_id
FROM {norm} n
ANTI JOIN __later l ON n.__key = l.__key
ANTI JOIN __seen s ON n.message_id = s.message_id
WHERE __reason IS NULL
""",
            [batch],
        )
    )
    con.execute("DROP TABLE __later")
    con.execute("DROP TABLE __seen")
    _link_identities(con, norm)
    return inserted


def _link_identities(con: duckdb.DuckDBPyConnection, norm: str) -> None:
    """An anonymous id belongs to the first user it was seen with (by event time)."""
    con.execute(
        f"""
INSERT INTO identities (anonymous_id, user_id, linked_at, source)
SELECT anonymous_id, arg_min(user_id, linked_at), min(linked_at), arg_min(source, linked_at)
FROM (
  SELECT anonymous_id, user_id, timestamp AS linked_at,
         CASE WHEN type = 'identify' THEN 'identify' ELSE 'track' END AS source
  FROM {norm} WHERE __reason IS NULL AND user_id IS NOT NULL AND anonymous_id IS NOT NULL
    AND type <> 'alias' AND anonymous_id <> user_id
  UNION ALL
  SELECT previous_id, user_id, timestamp, 'alias'
  FROM {norm} WHERE __reason IS NULL AND type = 'alias' AND previous_id <> user_id
)
GROUP BY anonymous_id
ON CONFLICT (anonymous_id) DO UPDATE
  SET user_id = excluded.user_id, linked_at = excluded.linked_at, source = excluded.source
  WHERE excluded.linked_at < identities.linked_at
"""
    )


def _upsert_keyed(con: duckdb.DuckDBPyConnection, norm: str, table: Table, bag: str) -> int:
    """Upsert the good rows per key, folded in their order over what is stored: a column takes
    the last value given (a missing one keeps what was there), the JSON bag merges each row's
    object in turn (RFC 7396: a null removes a key). Counts only keys that change something.

    Folding costs an aggregation of every column; a batch whose keys are all distinct (a users
    file, as a rule: about 1.6x faster at 1.25M users) reads its rows as they are."""
    key = quote_ident(table.key[0])
    fields = [c for c in table.column_names if c not in (table.key[0], "updated_at")]
    good = f"SELECT * FROM {norm} WHERE __reason IS NULL"
    merge = "lambda x, y: json_merge_patch(x, y)"
    if _has_repeats(con, norm, key):
        folded = ", ".join(
            f"list({quote_ident(c)} ORDER BY __key) FILTER (WHERE {quote_ident(c)} IS NOT NULL)"
            if c == bag
            else f"arg_max({quote_ident(c)}, __key) FILTER (WHERE {quote_ident(c)} IS NOT NULL)"
            for c in fields
        )
        names = ", ".join(quote_ident(c) for c in fields)
        rows = f"(SELECT {key}, {folded} FROM ({good}) GROUP BY {key}) n ({key}, {names})"
        patched = (
            f"CASE WHEN n.{bag} IS NULL THEN o.{bag} "
            f"WHEN o.{bag} IS NULL THEN list_reduce(n.{bag}, {merge}) "
            f"ELSE list_reduce(list_prepend(o.{bag}, n.{bag}), {merge}) END"
        )
    else:
        rows = f"({good}) n"
        patched = (
            f"CASE WHEN o.{bag} IS NULL OR n.{bag} IS NULL THEN coalesce(n.{bag}, o.{bag}) "
            f"ELSE json_merge_patch(o.{bag}, n.{bag}) END"
        )
    merged = {
        c: patched if c == bag else f"coalesce(n.{quote_ident(c)}, o.{quote_ident(c)})"
        for c in fields
    }
    select = ", ".join(f"{expr} AS {quote_ident(c)}" for c, expr in merged.items())
    changed = " OR ".join(
        f"({merged[c]}) IS DISTINCT FROM o.{quote_ident(c)}"
        if c != bag
        else f"CAST(({merged[c]}) AS VARCHAR) IS DISTINCT FROM CAST(o.{c} AS VARCHAR)"
        for c in fields
    )
    cols = ", ".join(quote_ident(c) for c in (table.key[0], *fields, "updated_at"))
    updates = ", ".join(
        f"{quote_ident(c)} = excluded.{quote_ident(c)}" for c in (*fields, "updated_at")
    )
    return _row_count(
        con.execute(
            f"""
INSERT INTO {quote_ident(table.name)} ({cols})
SELECT n.{key}, {select}, now()
FROM {rows}
LEFT JOIN {quote_ident(table.name)} o ON o.{key} = n.{key}
WHERE o.{key} IS NULL OR {changed}
ON CONFLICT ({key}) DO UPDATE SET {updates}
"""
        )
    )


def _has_repeats(con: duckdb.DuckDBPyConnection, norm: str, key: str) -> bool:
    """Whether a key may come twice among the good rows: 64-bit hashes grouped (far cheaper
    than the key strings); a collision only sends the batch through the fold."""
    found = con.execute(
        f"SELECT 1 FROM {norm} WHERE __reason IS NULL GROUP BY hash({key}) "
        "HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    return found is not None


def _load_users(con: duckdb.DuckDBPyConnection, norm: str, batch: str) -> int:
    return _upsert_keyed(con, norm, USERS, "traits")


def _load_items(con: duckdb.DuckDBPyConnection, norm: str, batch: str) -> int:
    return _upsert_keyed(con, norm, ITEMS, "properties")


def link_identities(con: duckdb.DuckDBPyConnection, norm: str) -> None:
    """Link the anonymous ids of the good rows of a normalised events table (the API's writer,
    which writes the events itself)."""
    _link_identities(con, norm)


def upsert_users(con: duckdb.DuckDBPyConnection, norm: str) -> int:
    """Upsert the good rows of a normalised users table; returns the rows that changed."""
    return _upsert_keyed(con, norm, USERS, "traits")


Loader = Callable[[duckdb.DuckDBPyConnection, str, str], int]
LOADERS: dict[str, Loader] = {"events": _load_events, "users": _load_users, "items": _load_items}
FINISHERS: dict[str, Callable[[str], str]] = {
    "events": _finish_events,
    "users": _identity,
    "items": _identity,
}
