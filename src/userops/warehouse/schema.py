"""The warehouse tables, defined once and rendered for each engine.

Ibis has no notion of keys or table engines, so the definitions live here as plain values:
`ibis_schema()` serves the expressions, `duckdb_ddl()` and `clickhouse_ddl()` create the tables.
docs/data-model.md documents every column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import ibis
import ibis.expr.datatypes as dt

SCHEMA_VERSION: Final = 3  # 2: tag_values, tag_snapshots, segment_members; 3: tag_changes


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # one of the keys of _DUCKDB_TYPES
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    doc: str = ""
    # DuckDB enforces `key` with a PRIMARY KEY, an ART index held in memory. Tables with
    # millions of rows per write, replaced wholesale by one writer that guarantees the key
    # (tag values and snapshots: docs/profiles.md, "Storage"), leave it off.
    enforce_key: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_DUCKDB_TYPES: Final[dict[str, str]] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "money": "DECIMAL(18,2)",
    "json": "JSON",
    "int": "BIGINT",
    "float": "DOUBLE",
}
_CLICKHOUSE_TYPES: Final[dict[str, str]] = {
    "string": "String",
    "timestamp": "DateTime64(6, 'UTC')",
    "date": "Date32",
    "money": "Decimal(18,2)",
    "json": "String",
    "int": "Int64",
    "float": "Float64",
}
_IBIS_TYPES: Final[dict[str, dt.DataType]] = {
    "string": dt.String(),
    "timestamp": dt.Timestamp(timezone="UTC", scale=6),
    "date": dt.Date(),
    "money": dt.Decimal(18, 2),
    "json": dt.JSON(),
    "int": dt.Int64(),
    "float": dt.Float64(),
}

EVENTS = Table(
    name="events",
    doc="Every event ever accepted, one row per message_id, append-only.",
    columns=(
        Column("message_id", "string", False, "Unique id of the message; dedup key."),
        Column("type", "string", False, "track, identify, page, screen, alias or group."),
        Column("event", "string", doc="Event name (track) or page/screen name."),
        Column("user_id", "string", doc="Known user id, if the sender knew it."),
        Column("anonymous_id", "string", doc="Device/cookie id before (and after) login."),
        Column("previous_id", "string", doc="alias: the id merged into user_id."),
        Column("group_id", "string", doc="group: the account the user belongs to."),
        Column("timestamp", "timestamp", False, "When it happened, UTC."),
        Column("received_at", "timestamp", False, "When userops accepted it, UTC."),
        Column("revenue", "money", doc="properties.revenue, in currency units (2 decimals)."),
        Column("currency", "string", doc="properties.currency (ISO 4217)."),
        Column("item_id", "string", doc="properties.item_id."),
        Column("category", "string", doc="properties.category."),
        Column("properties", "json", doc="All event properties (JSON object)."),
        Column("context", "json", doc="Segment context: app, os, device, ip... (JSON object)."),
        Column("batch_id", "string", False, "The import run or HTTP batch that brought it."),
    ),
    order_by=("timestamp",),
)

USERS = Table(
    name="users",
    doc="Current traits per user; an import or identify updates them in place.",
    columns=(
        Column("user_id", "string", False, "The user's id in the product."),
        Column("created_at", "timestamp", doc="Signup time, UTC."),
        Column("channel", "string", doc="Acquisition channel (渠道)."),
        Column("gender", "string"),
        Column("birthday", "date"),
        Column("province", "string"),
        Column("city", "string"),
        Column("occupation", "string"),
        Column("phone", "string"),
        Column("email", "string"),
        Column("traits", "json", doc="Custom traits (JSON object), merged on update."),
        Column("updated_at", "timestamp", False, "Last change by an import or identify, UTC."),
    ),
    key=("user_id",),
)

IDENTITIES = Table(
    name="identities",
    doc="Which user an anonymous id belongs to; the first link wins.",
    columns=(
        Column("anonymous_id", "string", False),
        Column("user_id", "string", False),
        Column("linked_at", "timestamp", False, "Time of the event that linked them, UTC."),
        Column("source", "string", False, "identify, alias or track (an event with both ids)."),
    ),
    key=("anonymous_id",),
)

ITEMS = Table(
    name="items",
    doc="The optional catalogue of items that events refer to by item_id.",
    columns=(
        Column("item_id", "string", False),
        Column("name", "string"),
        Column("category", "string"),
        Column("price", "money"),
        Column("properties", "json"),
        Column("updated_at", "timestamp", False),
    ),
    key=("item_id",),
)

COSTS = Table(
    name="costs",
    doc="What each acquisition channel cost per local day (`userops import costs`).",
    columns=(
        Column("date", "date", False, "The local day the money was spent."),
        Column("channel", "string", False, "Acquisition channel, as in users.channel."),
        Column("amount", "money", False, "Spend in currency units (2 decimals)."),
        Column("currency", "string", doc="ISO 4217 code, when the file gives one."),
    ),
    key=("date", "channel"),
)

TAG_VALUES = Table(
    name="tag_values",
    doc="The current value of every tag for every tagged user; a refresh replaces a tag's rows.",
    columns=(
        Column("tag", "string", False, "The tag's code (tags.code in the application database)."),
        Column("user_id", "string", False),
        Column(
            "value",
            "string",
            False,
            "The value as text: an enum case, 'true', a number, "
            "or an ISO date; what conditions compare for enum and boolean tags.",
        ),
        Column("number", "float", doc="The value as a number, for number tags (and scores)."),
        Column(
            "refreshed_at",
            "timestamp",
            False,
            "When the write that set this value ran (held since), UTC.",
        ),
    ),
    key=("tag", "user_id"),
    enforce_key=False,
)

TAG_CHANGES = Table(
    name="tag_changes",
    doc="A tag's history as changes (docs/decisions/0007): the value a user had on a snapshot "
    "day, kept only when it differs from their value on the tag's next snapshot day; the latest "
    "snapshot is `tag_values` itself.",
    columns=(
        Column("snapshot_date", "date", False, "The snapshot day this value belongs to."),
        Column("tag", "string", False),
        Column("user_id", "string", False),
        Column("value", "string", doc="The value that day; null: the user had none that day."),
        Column("number", "float"),
    ),
    key=("snapshot_date", "tag", "user_id"),
    enforce_key=False,
)

TAG_SNAPSHOT_DAYS = Table(
    name="tag_snapshot_days",
    doc="The days each tag has a snapshot of (one row per refresh day and tag).",
    columns=(
        Column("tag", "string", False),
        Column("snapshot_date", "date", False),
        Column("users", "int", False, "Users with a value that day."),
    ),
    key=("tag", "snapshot_date"),
)

TAG_VALUES_STATE = Table(
    name="tag_values_state",
    doc="One row, kept by every write of tag values in its transaction (profiles/tagvalues.py): "
    "how readers tell that the values changed without scanning them (tag_values has deleted "
    "rows, so DuckDB cannot answer its count or latest stamp from statistics).",
    columns=(
        Column("writes", "int", False, "Writes of tag values so far."),
        Column("latest", "timestamp", doc="The latest refreshed_at written (null: none yet)."),
    ),
)

SEGMENT_MEMBERS = Table(
    name="segment_members",
    doc="Who is in each segment: the frozen list of a static segment, the last evaluation of a "
    "dynamic one.",
    columns=(
        Column("segment", "string", False, "The segment's code (segments.code)."),
        Column("user_id", "string", False),
        Column("added_at", "timestamp", False, "When the evaluation or freeze put them there."),
    ),
    key=("segment", "user_id"),
)

META = Table(
    name="userops_meta",
    doc="Schema version of the warehouse.",
    columns=(Column("key", "string", False), Column("value", "string", False)),
    key=("key",),
)

TABLES: Final[dict[str, Table]] = {
    t.name: t
    for t in (
        EVENTS,
        USERS,
        IDENTITIES,
        ITEMS,
        COSTS,
        TAG_VALUES,
        TAG_CHANGES,
        TAG_SNAPSHOT_DAYS,
        SEGMENT_MEMBERS,
        META,
    )
}


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB/ClickHouse/PostgreSQL-style SQL (never a value)."""
    return '"' + name.replace('"', '""') + '"'


def ibis_schema(table: Table) -> ibis.Schema:
    return ibis.schema(
        {c.name: _IBIS_TYPES[c.kind].copy(nullable=c.nullable) for c in table.columns}
    )


def duckdb_ddl(table: Table) -> str:
    cols = [
        f"{quote_ident(c.name)} {_DUCKDB_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    ]
    if table.key and table.enforce_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in table.key)})")
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table.name)} ({', '.join(cols)})"


def clickhouse_ddl(table: Table) -> str:
    """MergeTree for events, ReplacingMergeTree (latest updated_at wins) for keyed tables."""
    cols = []
    for c in table.columns:
        ch = _CLICKHOUSE_TYPES[c.kind]
        cols.append(f"{quote_ident(c.name)} {f'Nullable({ch})' if c.nullable else ch}")
    if table.key:
        version = "updated_at" if "updated_at" in table.column_names else ""
        engine = f"ReplacingMergeTree({quote_ident(version) if version else ''})"
        order = table.key
    else:
        engine = "MergeTree"
        order = (*table.order_by, "message_id") if table.order_by else ("tuple()",)
    order_sql = ", ".join(o if o == "tuple()" else quote_ident(o) for o in order)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_ident(table.name)} ({', '.join(cols)}) "
        f"ENGINE = {engine} ORDER BY ({order_sql})"
    )
