"""The vectorised formatters agree with the standard library on every value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from userops.demo.calendar import build_window
from userops.demo.encode import (
    digit_matrix,
    hex_ids,
    iso_dates,
    iso_local_times,
    jsonl_lines,
    mix64,
    prefixed_ids,
    yuan,
)


@given(st.lists(st.integers(0, 10**12 - 1), min_size=1, max_size=50))
def test_digits(values: list[int]) -> None:
    matrix = digit_matrix(np.array(values, dtype=np.int64), 12)
    assert [row.tobytes().decode() for row in matrix] == [f"{v:012d}" for v in values]


@given(st.lists(st.integers(0, 10**11), min_size=1, max_size=50))
def test_yuan_has_two_decimals(fen: list[int]) -> None:
    assert yuan(np.array(fen, dtype=np.int64)).to_pylist() == [
        f"{f // 100}.{f % 100:02d}" for f in fen
    ]


@given(st.lists(st.integers(-200_000, 200_000), min_size=1, max_size=50))
def test_iso_dates(days: list[int]) -> None:
    expected = [(date(1970, 1, 1) + timedelta(days=d)).isoformat() for d in days]
    assert iso_dates(np.array(days, dtype=np.int64)).to_pylist() == expected


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Australia/Adelaide"])
def test_local_times_match_zoneinfo_across_daylight_saving(zone: str) -> None:
    tz = ZoneInfo(zone)
    window = build_window(date(2025, 11, 30), 365, tz)
    rng = np.random.default_rng(3)
    ts = rng.integers(window.start_ms, window.end_ms, 3_000)
    ts = np.r_[ts, window.transitions_ms, window.transitions_ms - 1]
    got = iso_local_times(ts, window.offset_minutes(ts)).to_pylist()
    for ms, text in zip(ts.tolist(), got, strict=True):
        moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
        assert text == moment.isoformat(timespec="milliseconds"), ms
    if zone != "Asia/Shanghai":
        assert len(window.transitions_ms) == 2


def test_window_days_are_local_days() -> None:
    tz = ZoneInfo("America/New_York")
    window = build_window(date(2025, 3, 10), 3, tz)  # 9 March 2025 has 23 hours
    assert window.day_length_ms.tolist() == [86_400_000, 82_800_000, 86_400_000]
    starts = [datetime.fromtimestamp(ms / 1000, tz) for ms in window.day_start_ms.tolist()]
    assert all((s.hour, s.minute) == (0, 0) for s in starts)


def test_ids_are_unique_and_fixed_width() -> None:
    ids = hex_ids("dev-", mix64(np.arange(100_000, dtype=np.uint64))).to_pylist()
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {20}
    assert prefixed_ids("U", np.array([1, 42]), 7).to_pylist() == ["U0000001", "U0000042"]


def test_jsonl_escapes_and_nulls() -> None:
    import json

    import pyarrow as pa

    text = jsonl_lines(
        {"a": pa.array(['say "hi"', None, "back\\slash"]), "n": pa.array(["1.50", "2.00", None])},
        literal={"n"},
    )
    rows = [json.loads(line) for line in text.decode().splitlines()]
    assert rows == [
        {"a": 'say "hi"', "n": 1.5},
        {"a": None, "n": 2.0},
        {"a": "back\\slash", "n": None},
    ]
