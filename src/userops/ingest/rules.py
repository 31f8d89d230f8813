"""The contract's rules as SQL over a staged source: one normalised row and a reason per row.

Each field becomes a typed value plus, where it can be wrong, a condition and a message; the
first failing rule of a row is its reason (NULL for a good row). Everything here is built from
the contract and the file's own column names (quoted); no value is pasted into the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from userops.domain.contract import (
    CONTROL_CHARACTERS,
    EVENT_TYPES,
    EXTRA_BAG,
    LIFTED_PROPERTIES,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    RECORD_FIELDS,
    RecordKind,
)
from userops.errors import InputError
from userops.ingest.sources import StagedSource
from userops.warehouse.schema import quote_ident

_TEXT_TYPES = {"VARCHAR", "JSON"}
_NUMERIC_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
)
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("timestamp",),
    "users": ("user_id",),
    "items": ("item_id",),
}


@dataclass
class _Select:
    """Columns of the normalising projection and the ordered (condition, message) rules."""

    columns: dict[str, str] = field(default_factory=dict)
    rules: list[tuple[str, str]] = field(default_factory=list)
    finite: list[str] = field(default_factory=list)  # JSON fields checked by `_finite_rule`


def _lit(text: str) -> str:
    """A constant message fragment written by us (never user input) as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def _shown(expr: str) -> str:
    """A raw value as it appears in an error message: JSON-quoted and cut to 60 characters."""
    return f"left(to_json(CAST({expr} AS VARCHAR)), 60)"


def resolve_columns(
    kind: RecordKind, source: StagedSource, mapping: dict[str, str]
) -> tuple[dict[str, str | None], list[str]]:
    """Which file column feeds each contract field, and which columns are extras."""
    fields = RECORD_FIELDS[kind]
    for target, column in mapping.items():
        if column not in source.columns:
            raise InputError(
                f"{source.path}: --map {target}={column}: no column {column!r} "
                f"(columns: {', '.join(source.columns) or 'none'})"
            )
    mapped_sources = set(mapping.values())
    chosen: dict[str, str | None] = {}
    for name in fields:
        if name in mapping:
            chosen[name] = mapping[name]
        elif name in source.columns and name not in mapped_sources:
            chosen[name] = name
        else:
            chosen[name] = None
    for name in _REQUIRED_COLUMNS[kind]:
        if chosen[name] is None:
            raise InputError(
                f"{source.path}: no column {name!r} (columns: "
                f"{', '.join(source.columns) or 'none'}); use --map {name}=COLUMN"
            )
    used = {c for c in chosen.values() if c is not None}
    extras = [c for c in source.columns if c not in used]
    return chosen, extras


def _check_type(source: StagedSource, column: str, field_name: str, ok: tuple[str, ...]) -> str:
    col_type = source.columns[column]
    if col_type in _TEXT_TYPES or col_type.startswith(ok):
        return col_type
    raise InputError(
        f"{source.path}: column {column!r} ({field_name}) has type {col_type}; "
        f"expected {' or '.join(ok)} or text"
    )


def _text(
    sel: _Select, name: str, column: str | None, source: StagedSource, *, is_id: bool
) -> None:
    if column is None:
        sel.columns[name] = "CAST(NULL AS VARCHAR)"
        return
    ref = quote_ident(column)
    col_type = source.columns[column]
    if col_type != "VARCHAR":
        value = f"CAST({ref} AS VARCHAR)"
    elif source.fmt in ("parquet", "arrow"):
        # typed sources and the API carry exact values: not trimmed, but blank is no value
        value = f"CASE WHEN trim({ref}) <> '' THEN {ref} END"
    else:
        value = f"NULLIF(trim({ref}), '')"
    sel.columns[name] = value
    if is_id:
        sel.rules.append(
            (
                f"length({name}) > {MAX_ID_LENGTH}",
                _lit(f"{name} is longer than {MAX_ID_LENGTH} characters"),
            )
        )
        sel.rules.append(
            (
                f"regexp_matches({name}, {_lit(CONTROL_CHARACTERS)})",
                _lit(f"{name} contains a control character (a tab, a line break, a NUL...)"),
            )
        )


def _timestamp(sel: _Select, name: str, column: str | None, source: StagedSource) -> None:
    if column is None:
        sel.columns[f"__{name}_raw"] = "CAST(NULL AS VARCHAR)"
        sel.columns[name] = "CAST(NULL AS TIMESTAMPTZ)"
        return
    ref = quote_ident(column)
    col_type = _check_type(source, column, name, ("TIMESTAMP", "DATE"))
    if col_type in _TEXT_TYPES:
        raw = f"NULLIF(trim(CAST({ref} AS VARCHAR)), '')"
        sel.columns[f"__{name}_raw"] = raw
        sel.columns[name] = f"TRY_CAST(__{name}_raw AS TIMESTAMPTZ)"
        sel.rules.append(
            (
                f"__{name}_raw IS NOT NULL AND {name} IS NULL",
                f"{_lit(name + ' ')} || {_shown(f'__{name}_raw')} || "
                f"{_lit(' is not an ISO-8601 time')}",
            )
        )
    else:
        # A naive TIMESTAMP is read in the session time zone (USEROPS_TIMEZONE).
        sel.columns[f"__{name}_raw"] = "CAST(NULL AS VARCHAR)"
        sel.columns[name] = f"CAST({ref} AS TIMESTAMPTZ)"
    sel.rules.append(
        (
            # Range comparisons, not year(): year() of a TIMESTAMPTZ costs a calendar conversion.
            f"{name} IS NOT NULL AND ({name} < TIMESTAMPTZ '1970-01-01 00:00:00+00' "
            f"OR {name} >= TIMESTAMPTZ '2201-01-01 00:00:00+00')",
            f"{_lit(name + ' ')} || {_shown(f'coalesce(__{name}_raw, CAST({name} AS VARCHAR))')}"
            f" || {_lit(' is out of range (1970-2200)')}",  # as sent, when sent as text
        )
    )


def _date(sel: _Select, name: str, column: str | None, source: StagedSource) -> None:
    if column is None:
        sel.columns[name] = "CAST(NULL AS DATE)"
        return
    ref = quote_ident(column)
    col_type = _check_type(source, column, name, ("DATE", "TIMESTAMP"))
    if col_type in _TEXT_TYPES:
        raw = f"NULLIF(trim(CAST({ref} AS VARCHAR)), '')"
        sel.columns[f"__{name}_raw"] = raw
        sel.columns[name] = f"TRY_CAST(__{name}_raw AS DATE)"
        sel.rules.append(
            (
                f"__{name}_raw IS NOT NULL AND {name} IS NULL",
                f"{_lit(name + ' ')} || {_shown(f'__{name}_raw')} || "
                f"{_lit(' is not a date (YYYY-MM-DD)')}",
            )
        )
    else:
        sel.columns[name] = f"CAST({ref} AS DATE)"


def _money(sel: _Select, name: str, column: str | None, source: StagedSource) -> None:
    if column is None:
        sel.columns[name] = "CAST(NULL AS DECIMAL(18,2))"
        return
    ref = quote_ident(column)
    _check_type(source, column, name, _NUMERIC_PREFIXES)
    raw = f"NULLIF(trim(CAST({ref} AS VARCHAR)), '')"
    sel.columns[f"__{name}_raw"] = raw
    sel.columns[name] = f"TRY_CAST(__{name}_raw AS DECIMAL(18,2))"
    sel.rules.append(
        (
            f"__{name}_raw IS NOT NULL AND {name} IS NULL",
            f"{_lit(name + ' ')} || {_shown(f'__{name}_raw')} || "
            f"{_lit(' is not a number within ±10^16')}",
        )
    )


def _json(sel: _Select, name: str, column: str | None, source: StagedSource) -> None:
    if source.fmt != "arrow":  # the API's JSON was parsed strictly before it got here
        sel.finite.append(name)
    if column is None:
        sel.columns[name] = "CAST(NULL AS JSON)"
        return
    ref = quote_ident(column)
    col_type = source.columns[column]
    if col_type.startswith(("STRUCT", "MAP")):
        sel.columns[name] = f"to_json({ref})"
        return
    if col_type not in _TEXT_TYPES:
        raise InputError(
            f"{source.path}: column {column!r} ({name}) has type {col_type}; "
            "expected a JSON object (text or struct)"
        )
    # Large JSON texts are not trimmed (costly); the JSON parser skips white space itself.
    sel.columns[f"__{name}_raw"] = f"NULLIF(CAST({ref} AS VARCHAR), '')"
    sel.columns[name] = f"TRY_CAST(__{name}_raw AS JSON)"
    sel.rules.append(
        (
            f"__{name}_raw IS NOT NULL AND NOT coalesce({_is_object(name)}, FALSE)",
            _lit(f"{name} is not a JSON object"),
        )
    )


def _is_object(json_column: str) -> str:
    """Whether a (valid) JSON value is an object: by its first character, parsing only when
    the text starts with white space."""
    text = f"CAST({json_column} AS VARCHAR)"
    return (
        f"CASE WHEN prefix({text}, '{{') THEN TRUE WHEN prefix({text}, '[') "
        f"OR prefix({text}, '\"') THEN FALSE ELSE json_type({json_column}) = 'OBJECT' END"
    )


def _finite_rule(name: str) -> tuple[str, str]:
    """Refuse a JSON object holding NaN or Infinity: DuckDB reads them (and writes them for a
    float column or struct field of a Parquet file), but JSON has no such numbers and every
    reader of the stored object would fail on it. The text is first searched for the
    spellings JSON writers use (Python's json, Jackson, DuckDB: NaN, Infinity, -Infinity),
    which costs little; only an object that has one is walked. Other spellings DuckDB also
    reads (nan, inf, 1e999) are not searched for: two more searches of every text cost a
    large import 2-3% (measured). The message names the first top-level key that is, or holds,
    one.
    """
    text = f"CAST({name} AS VARCHAR)"
    spelled = " OR ".join(f"contains({text}, '{word}')" for word in ("NaN", "Infinity"))
    key = (
        f"list_filter(list_zip(json_keys({name}), json_extract({name}, '$.*')), "
        f"lambda p: {_not_finite('p[2]')} OR {_holds_not_finite('p[2]', 'w')})[1][1]"
    )
    message = _lit(" holds NaN or Infinity, which JSON does not allow")
    return (
        f"CASE WHEN {spelled} THEN {_holds_not_finite(name, 'v')} ELSE FALSE END",
        f"{_lit(name + '.')} || {key} || {message}",
    )


def _not_finite(value: str) -> str:
    return f"(json_type({value}) = 'DOUBLE' AND NOT isfinite(TRY_CAST({value} AS DOUBLE)))"


def _holds_not_finite(value: str, var: str) -> str:
    inside = f"json_extract({value}, '$..*')"
    return (
        f"coalesce(list_bool_or(list_transform({inside}, lambda {var}: {_not_finite(var)})), FALSE)"
    )


def _extras_object(extras: list[str]) -> str:
    """Columns outside the contract, folded into the JSON bag with their NULLs left out."""
    if not extras:
        return "NULL"
    pairs = ", ".join(f"{_lit(c)}, __extra_{i}" for i, c in enumerate(extras))
    return f"json_merge_patch('{{}}', json_object({pairs}))"


def _fields(
    sel: _Select, kind: RecordKind, source: StagedSource, chosen: dict[str, str | None]
) -> None:
    for name, fkind in RECORD_FIELDS[kind].items():
        column = chosen[name]
        if fkind in ("id", "text"):
            _text(sel, name, column, source, is_id=fkind == "id")
        elif fkind == "timestamp":
            _timestamp(sel, name, column, source)
        elif fkind == "date":
            _date(sel, name, column, source)
        elif fkind == "decimal":
            _money(sel, name, column, source)
        else:
            _json(sel, name, column, source)


def normalising_sql(
    kind: RecordKind, source: StagedSource, source_index: int, mapping: dict[str, str]
) -> str:
    """SELECT over the staged source giving the normalised columns, `__reason` and `__row`."""
    chosen, extras = resolve_columns(kind, source, mapping)
    sel = _Select()
    _fields(sel, kind, source, chosen)
    bag = EXTRA_BAG[kind]
    for i, column in enumerate(extras):
        sel.columns[f"__extra_{i}"] = quote_ident(column)
    inner = ", ".join(f"{expr} AS {quote_ident(col)}" for col, expr in sel.columns.items())
    extras_sql = _extras_object(extras)
    merged = (
        bag
        if extras_sql == "NULL"
        else (
            f"CASE WHEN {bag} IS NULL OR {_is_object(bag)} "
            f"THEN NULLIF(json_merge_patch({extras_sql}, coalesce({bag}, '{{}}')), '{{}}') "
            f"ELSE {bag} END"
        )
    )
    rules = [
        ("__bad_line", _lit("line is not a JSON object")),
        *_kind_rules(kind),
        *sel.rules,
        *(_finite_rule(name) for name in sel.finite),
    ]
    if kind == "events":
        rules.append(
            (
                f"__size > {MAX_EVENT_BYTES}",
                f"{_lit('event is ')} || __size || "
                f"{_lit(f' bytes, over the {MAX_EVENT_BYTES}-byte limit')}",
            )
        )
    reason = "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in rules) + " END"
    dropped = ", ".join(f"__extra_{i}" for i in range(len(extras)))
    with_bag = (
        f"SELECT * {f'EXCLUDE ({dropped})' if extras else ''} REPLACE ({merged} AS {bag}) "
        f"FROM ({_inner_from(inner, source)})"
    )
    if kind == "events":
        with_bag = _events_projection(with_bag)
    # Only what the loaders need is kept: the raw texts behind the messages are dropped here,
    # which halves what a large import holds in memory.
    kept = [*RECORD_FIELDS[kind], *(LIFTED_PROPERTIES if kind == "events" else ())]
    columns = ", ".join(quote_ident(c) for c in dict.fromkeys(kept))
    return (
        f"SELECT {source_index} AS __source, __row, "
        f"(CAST({source_index} AS BIGINT) << 40) + __row AS __key, {columns}, "
        f"{reason} AS __reason FROM ({with_bag})"
    )


def _inner_from(inner: str, source: StagedSource) -> str:
    return f"SELECT __row, __bad_line, {inner} FROM {quote_ident(source.relation)}"


def _kind_rules(kind: RecordKind) -> list[tuple[str, str]]:
    if kind == "users":
        return [("user_id IS NULL", _lit("missing id: user_id is required"))]
    if kind == "items":
        return [("item_id IS NULL", _lit("missing id: item_id is required"))]
    types = ", ".join(_lit(t) for t in EVENT_TYPES)
    return [
        (
            "user_id IS NULL AND anonymous_id IS NULL",
            _lit("missing id: user_id or anonymous_id is required"),
        ),
        (
            f"NOT list_contains([{types}], type)",
            f"{_lit('type ')} || {_shown('type')} || "
            f"{_lit(' is not one of ' + ', '.join(EVENT_TYPES))}",
        ),
        ("type = 'track' AND event IS NULL", _lit("missing event: a track needs an event name")),
        (
            "type = 'alias' AND (previous_id IS NULL OR user_id IS NULL)",
            _lit("an alias needs previous_id and user_id"),
        ),
        ("__timestamp_raw IS NULL AND timestamp IS NULL", _lit("missing timestamp")),
        (
            "__revenue_bad",
            f"{_lit('properties.revenue ')} || {_shown('__revenue_json')} || "
            f"{_lit(' is not a number within ±10^16')}",
        ),
    ]


def _events_projection(inner: str) -> str:
    """Default the type, lift well-known properties into columns, measure the size."""
    lifted = (
        "json_extract_string(properties, ['$.revenue', '$.currency', '$.item_id', '$.category'])"
    )
    return f"""
SELECT * EXCLUDE (__lifted) REPLACE (coalesce(lower(type), 'track') AS type),
  TRY_CAST(__lifted[1] AS DECIMAL(18,2)) AS revenue,
  (__lifted[1] IS NOT NULL AND revenue IS NULL) AS __revenue_bad,
  __lifted[1] AS __revenue_json,
  __lifted[2] AS currency,
  __lifted[3] AS item_id,
  __lifted[4] AS category,
  coalesce(strlen(properties), 0) + coalesce(strlen(context), 0)
    + coalesce(strlen(event), 0) + coalesce(strlen(user_id), 0)
    + coalesce(strlen(anonymous_id), 0) + 200 AS __size
FROM (SELECT *, CASE WHEN {_is_object("properties")} THEN {lifted} END AS __lifted
      FROM ({inner}))
"""
