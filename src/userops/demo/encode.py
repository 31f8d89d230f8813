"""Vectorised text: ids, money and local timestamps as Arrow strings without a loop per row.

Formatting millions of values one by one (f-strings, strftime, even NumPy's datetime_as_string
or Arrow's strftime) costs about a microsecond each, more than the whole simulation of an
event. Fixed-width values are instead written as a byte matrix of digits and handed to Arrow
as one buffer; variable-width ones are joined with Arrow's element-wise string kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_ZERO = ord("0")


_QUADS = np.frombuffer(b"".join(f"{i:04d}".encode() for i in range(10_000)), dtype=np.uint32)


def digit_matrix(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """(n, width) ASCII digits of non-negative integers, zero-padded on the left.

    Four digits at a time from a lookup table: a quarter of the divisions of digit-by-digit."""
    groups = -(-width // 4)
    rest = np.asarray(values, dtype=np.int64)
    out = np.empty((len(rest), groups), dtype=np.uint32)
    for g in range(groups - 1, -1, -1):
        rest, quad = np.divmod(rest, 10_000)
        out[:, g] = _QUADS[quad]
    return out.view(np.uint8)[:, groups * 4 - width :]


def ascii_matrix(text: str, n: int) -> npt.NDArray[np.uint8]:
    """The same ASCII text on every one of n rows."""
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(row, (n, len(row)))


def strings_from_matrix(parts: Sequence[npt.NDArray[np.uint8]]) -> pa.StringArray:
    """Glue byte matrices side by side into one fixed-width Arrow string per row."""
    matrix = (
        np.ascontiguousarray(np.hstack(parts)) if len(parts) > 1 else np.ascontiguousarray(parts[0])
    )
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    if offsets[-1] < 2**31:
        arr = pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(matrix)
        )
        return arr
    large = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(matrix))
    return large.cast(pa.string())


def prefixed_ids(prefix: str, numbers: npt.NDArray[np.int64], width: int) -> pa.StringArray:
    """`prefix` + zero-padded number, e.g. U0000042."""
    n = len(numbers)
    return strings_from_matrix([ascii_matrix(prefix, n), digit_matrix(numbers, width)])


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_ids(prefix: str, values: npt.NDArray[np.uint64]) -> pa.StringArray:
    """`prefix` + 16 lowercase hex digits of each 64-bit value."""
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts[None, :]) & np.uint64(15)
    return strings_from_matrix([ascii_matrix(prefix, len(values)), _HEX[nibbles.astype(np.int64)]])


def mix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijection, so distinct inputs give distinct ids."""
    z = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def yuan(fen: npt.NDArray[np.int64]) -> pa.StringArray:
    """Fen as yuan text with exactly two decimals (12900 -> "129.00"); no float on the way."""
    whole = pc.cast(pa.array(fen // 100), pa.string())
    cents = strings_from_matrix([digit_matrix(fen % 100, 2)])
    return pc.binary_join_element_wise(whole, cents, ".")


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and constant strings."""
    return pc.binary_join_element_wise(*parts, "")


def _civil(days: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    """Year, month, day of days since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def iso_dates(days: npt.NDArray[np.int64]) -> pa.StringArray:
    """YYYY-MM-DD of days since 1970-01-01."""
    year, month, day = _civil(days)
    n = len(days)
    dash = ascii_matrix("-", n)
    return strings_from_matrix(
        [digit_matrix(year, 4), dash, digit_matrix(month, 2), dash, digit_matrix(day, 2)]
    )


def iso_local_times(
    utc_ms: npt.NDArray[np.int64], offset_min: npt.NDArray[np.int64]
) -> pa.StringArray:
    """2024-11-11T20:15:03.123+08:00: local wall time and the zone's offset at that instant."""
    local = utc_ms + offset_min * 60_000
    days = np.floor_divide(local, 86_400_000)
    ms = local - days * 86_400_000
    year, month, day = _civil(days)
    n = len(utc_ms)
    sign = np.where(offset_min < 0, ord("-"), ord("+")).astype(np.uint8)[:, None]
    off = np.abs(offset_min)
    return strings_from_matrix(
        [
            digit_matrix(year, 4),
            ascii_matrix("-", n),
            digit_matrix(month, 2),
            ascii_matrix("-", n),
            digit_matrix(day, 2),
            ascii_matrix("T", n),
            digit_matrix(ms // 3_600_000, 2),
            ascii_matrix(":", n),
            digit_matrix(ms // 60_000 % 60, 2),
            ascii_matrix(":", n),
            digit_matrix(ms // 1000 % 60, 2),
            ascii_matrix(".", n),
            digit_matrix(ms % 1000, 3),
            sign,
            digit_matrix(off // 60, 2),
            ascii_matrix(":", n),
            digit_matrix(off % 60, 2),
        ]
    )


def json_string_literals(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal ("..." with quotes and backslashes escaped); nulls
    become the literal null. Control characters never occur in generated data."""
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.fill_null(quoted, "null")


def jsonl_lines(columns: dict[str, pa.Array], literal: set[str]) -> bytes:
    """JSON Lines for a table of strings. Columns in `literal` already hold JSON literals
    (numbers); the others are strings (or null) and are quoted."""
    parts: list[pa.Array | str] = []
    for i, (name, values) in enumerate(columns.items()):
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(
            pc.fill_null(values, "null") if name in literal else json_string_literals(values)
        )
    parts.append("}\n")
    lines = join(*parts)
    return _concat_bytes(lines)


def _concat_bytes(strings: pa.Array) -> bytes:
    """The bytes of all strings of an array one after another (no separators)."""
    if len(strings) == 0:
        return b""
    arr = strings.cast(pa.large_string()) if strings.type == pa.string() else strings
    _, offsets_buf, data_buf = arr.buffers()
    assert offsets_buf is not None and data_buf is not None
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    data: bytes = data_buf.slice(start, stop - start).to_pybytes()
    return data
