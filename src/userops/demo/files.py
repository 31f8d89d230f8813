"""Writing the three demo files in parquet, CSV or JSON Lines, chunk by chunk.

The shapes follow userops.domain.contract: Parquet keeps real types (timestamps in UTC
microseconds, dates, decimal prices) with JSON bags as strings; CSV and JSON Lines carry local
ISO-8601 times with their offset (+08:00 in Asia/Shanghai), as a Chinese app would log them.
Each file is written under a temporary name and renamed when complete, so a crash never leaves
a half file under the real name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from userops.demo.calendar import Window
from userops.demo.catalog import CATEGORIES, Catalog
from userops.demo.encode import (
    digit_matrix,
    iso_dates,
    iso_local_times,
    join,
    jsonl_lines,
    prefixed_ids,
    strings_from_matrix,
    yuan,
)
from userops.demo.geography import city_table
from userops.demo.population import CHANNELS, GENDERS, OCCUPATIONS, OS_NAMES, Population
from userops.demo.simulation import EVENT_NAMES, IDENTIFY, RawEvents, Texts

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: Final[tuple[Format, ...]] = ("parquet", "csv", "jsonl")
UTC_US: Final = pa.timestamp("us", tz="UTC")
PRICE: Final = pa.decimal128(12, 2)

EVENT_COLUMNS: Final = (
    "message_id",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "timestamp",
    "properties",
    "context",
)
USER_COLUMNS: Final = (
    "user_id",
    "created_at",
    "channel",
    "gender",
    "birthday",
    "province",
    "city",
    "occupation",
    "phone",
    "email",
    "device_os",
    "register_source_detail",
)
ITEM_COLUMNS: Final = ("item_id", "name", "category", "price", "properties")


def _schema(columns: tuple[str, ...], fmt: Format, typed: dict[str, pa.DataType]) -> pa.Schema:
    if fmt == "parquet":
        return pa.schema([(c, typed.get(c, pa.string())) for c in columns])
    return pa.schema([(c, pa.string()) for c in columns])


# Parquet gets low-cardinality and id columns as dictionary arrays: the writer then skips
# hashing millions of strings. The file is written without the Arrow schema, so readers see
# plain string columns (dictionary-encoded pages are how Parquet stores strings anyway).
_DICT: Final = pa.dictionary(pa.int32(), pa.string())
DICTIONARY_COLUMNS: Final = ("type", "event", "user_id", "anonymous_id", "context")


def events_schema(fmt: Format) -> pa.Schema:
    return _schema(
        EVENT_COLUMNS, fmt, {"timestamp": UTC_US, **dict.fromkeys(DICTIONARY_COLUMNS, _DICT)}
    )


def users_schema(fmt: Format) -> pa.Schema:
    return _schema(USER_COLUMNS, fmt, {"created_at": UTC_US, "birthday": pa.date32()})


def items_schema(fmt: Format) -> pa.Schema:
    return _schema(ITEM_COLUMNS, fmt, {"price": PRICE})


class _Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _JsonlSink:
    def __init__(self, path: Path, literal: set[str]) -> None:
        self._file = path.open("wb")
        self._literal = literal

    def write(self, table: pa.Table) -> None:
        columns = {name: table.column(name).combine_chunks() for name in table.column_names}
        self._file.write(jsonl_lines(columns, self._literal))

    def close(self) -> None:
        self._file.close()


class TableFile:
    """One output file: written to `<name>.tmp`, renamed into place by `commit()`, removed by
    `abort()`."""

    def __init__(self, path: Path, fmt: Format, schema: pa.Schema, literal: set[str]) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".tmp")
        self._schema = schema
        self.rows = 0
        self._closed = False
        self._sink: _Sink
        if fmt == "parquet":
            self._sink = pq.ParquetWriter(self._tmp, schema, compression="zstd", store_schema=False)
        elif fmt == "csv":
            self._sink = pacsv.CSVWriter(self._tmp, schema)
        else:
            self._sink = _JsonlSink(self._tmp, literal)

    def write(self, columns: dict[str, pa.Array]) -> None:
        table = pa.Table.from_arrays([columns[f.name] for f in self._schema], schema=self._schema)
        self._sink.write(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish writing (the file is complete under its temporary name)."""
        if not self._closed:
            self._closed = True
            self._sink.close()

    def commit(self) -> None:
        self.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def _times(ts_ms: npt.NDArray[np.int64], fmt: Format, window: Window) -> pa.Array:
    if fmt == "parquet":
        return pa.array(ts_ms * 1000, type=UTC_US)
    return iso_local_times(ts_ms, window.offset_minutes(ts_ms))


def _masked_take(
    table: pa.Array, index: npt.NDArray[np.int64], present: npt.NDArray[np.bool_]
) -> pa.Array:
    return table.take(pa.array(index, mask=~present))


def _coded(
    table: pa.Array,
    code: npt.NDArray[np.int64],
    fmt: Format,
    null: npt.NDArray[np.bool_] | None = None,
) -> pa.Array:
    """Values picked from a small table: dictionary-encoded for Parquet, plain otherwise."""
    if fmt == "parquet":
        return pa.DictionaryArray.from_arrays(pa.array(code.astype(np.int32), mask=null), table)
    return table.take(pa.array(code, mask=null))


def _ids(
    table: pa.Array,
    person: npt.NDArray[np.int64],
    present: npt.NDArray[np.bool_],
    fmt: Format,
) -> pa.Array:
    """Ids of a chunk's people (sorted by person): for Parquet a dictionary of just the
    people in the chunk, so the writer neither hashes ids nor writes every id per chunk."""
    if fmt != "parquet":
        return _masked_take(table, person, present)
    who = person[present]
    if len(who) == 0:
        return pa.DictionaryArray.from_arrays(
            pa.nulls(len(person), pa.int32()), pa.array([], pa.string())
        )
    new = np.r_[True, who[1:] != who[:-1]]
    if not bool(np.all(who[1:] >= who[:-1])):  # not sorted: fall back to unique
        uniq, inverse = np.unique(who, return_inverse=True)
    else:
        uniq, inverse = who[new], np.cumsum(new) - 1
    index = np.zeros(len(person), dtype=np.int32)
    index[present] = inverse
    return pa.DictionaryArray.from_arrays(
        pa.array(index, mask=~present), table.take(pa.array(uniq))
    )


_EVENT_NAME_TABLE: Final = pa.array([name or "" for name in EVENT_NAMES], pa.string())
_TYPE_TABLE: Final = pa.array(["identify", "track"], pa.string())


def event_columns(
    raw: RawEvents,
    *,
    fmt: Format,
    window: Window,
    texts: Texts,
    device_ids: pa.Array,
    message_prefix: str,
    first_message: int,
) -> dict[str, pa.Array]:
    """A chunk of simulated events as the columns of the events file."""
    n = len(raw)
    code = raw.code.astype(np.int64)
    return {
        "message_id": prefixed_ids(
            message_prefix, first_message + np.arange(n, dtype=np.int64), 10
        ),
        "type": _coded(_TYPE_TABLE, (code != IDENTIFY).astype(np.int64), fmt),
        "event": _coded(_EVENT_NAME_TABLE, code, fmt, null=code == IDENTIFY),
        "user_id": _ids(texts.user_ids, raw.person, raw.has_user, fmt),
        "anonymous_id": _ids(device_ids, raw.person, raw.has_anon, fmt),
        "timestamp": _times(raw.ts_ms, fmt, window),
        "properties": raw.properties,
        "context": _coded(texts.context, raw.context, fmt),
    }


def user_columns(
    pop: Population,
    lo: int,
    hi: int,
    *,
    fmt: Format,
    window: Window,
    texts: Texts,
    phone_prefixes: tuple[str, ...],
    phone_suffix: npt.NDArray[np.int64],
    email_parts: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
) -> dict[str, pa.Array]:
    """Users lo..hi-1 as the columns of the users file (custom traits last)."""
    sl = slice(lo, hi)
    n = hi - lo
    cities = city_table()
    city = pop.city[sl]
    birthday = pop.birthday_days[sl]
    has_birthday = birthday >= 0
    if fmt == "parquet":
        birthday_col = pa.array(
            np.where(has_birthday, birthday, 0).astype(np.int32), pa.date32(), mask=~has_birthday
        )
    else:
        birthday_col = _null_where(iso_dates(np.where(has_birthday, birthday, 0)), ~has_birthday)
    surnames, given, domains = email_parts
    name = pop.email_name[sl]
    has_email = name >= 0
    safe = np.where(has_email, name, 0)
    email = join(
        pa.array(surnames).take(pa.array(safe // len(given))),
        pa.array(given).take(pa.array(safe % len(given))),
        pa.array(np.arange(lo, hi) + 1).cast(pa.string()),
        "@",
        pa.array(domains).take(pa.array(np.arange(lo, hi) % len(domains))),
    )
    sources = [s for c in CHANNELS for s in c.sources]
    first_source = np.cumsum([0] + [len(c.sources) for c in CHANNELS])[:-1]
    source = pop.source_detail[sl]
    channel = pop.channel[sl]
    return {
        "user_id": texts.user_ids.slice(lo, n),
        "created_at": _times(pop.signup_ms[sl], fmt, window),
        "channel": pa.array([c.name for c in CHANNELS]).take(pa.array(channel)),
        "gender": _masked_take(
            pa.array(GENDERS), np.maximum(pop.gender[sl], 0), pop.gender[sl] >= 0
        ),
        "birthday": birthday_col,
        "province": pa.array(cities.province).take(pa.array(city)),
        "city": pa.array(cities.city).take(pa.array(city)),
        "occupation": _masked_take(
            pa.array(OCCUPATIONS), np.maximum(pop.occupation[sl], 0), pop.occupation[sl] >= 0
        ),
        "phone": join(
            pa.array(phone_prefixes).take(pa.array(pop.phone_prefix[sl])),
            strings_from_matrix([digit_matrix(phone_suffix[sl], 8)]),
        ),
        "email": _null_where(email, ~has_email),
        "device_os": pa.array(OS_NAMES).take(pa.array(pop.behaviour.os[sl])),
        "register_source_detail": _masked_take(
            pa.array(sources),
            np.where(source >= 0, first_source[channel] + source, 0),
            source >= 0,
        ),
    }


def _null_where(values: pa.Array, null: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(null), pa.scalar(None, values.type), values)


def item_columns(catalog: Catalog, fmt: Format) -> dict[str, pa.Array]:
    fen = catalog.price_fen
    price = yuan(fen)
    if fmt == "parquet":
        price = price.cast(PRICE)  # exact: the text already has two decimals
    return {
        "item_id": pa.array(catalog.item_id, pa.string()),
        "name": pa.array(catalog.name, pa.string()),
        "category": pa.array([CATEGORIES[c].name for c in catalog.category], pa.string()),
        "price": price,
        "properties": pa.array([f'{{"brand":"{b}"}}' for b in catalog.brand], pa.string()),
    }
