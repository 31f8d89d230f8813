"""Inputs are checked up front; odd but valid sizes and time zones still give sound files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from userops.demo import generate_files
from userops.errors import InputError

OK: dict[str, object] = {"users": 10, "days": 3, "seed": 1, "end": date(2025, 1, 31)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"users": 0}, "users must be"),
        ({"users": -5}, "users must be"),
        ({"users": 2.5}, "users must be"),
        ({"days": 0}, "days must be"),
        ({"days": 10_000}, "days must be"),
        ({"seed": -1}, "seed must be"),
        ({"end": "2025-01-31"}, "end must be a date"),
        ({"fmt": "xlsx"}, "format must be one of parquet, csv, jsonl"),
    ],
)
def test_bad_input_is_one_clear_error(
    change: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=message):
        generate_files(tmp_path, **{**OK, **change})  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        generate_files(target, **OK)  # type: ignore[arg-type]


def test_one_user_one_day(tmp_path: Path) -> None:
    files = generate_files(tmp_path, users=1, days=1, seed=0, end=date(2025, 11, 11))
    events = pd.read_parquet(files.events_path)
    assert files.users == 1 and (events["type"] == "identify").sum() == 1
    assert files.events == len(events)


def test_progress_counts_people_up_to_the_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate_files(tmp_path, **OK, progress=lambda done, total: calls.append((done, total)))  # type: ignore[arg-type]
    assert calls and calls[-1][0] == calls[-1][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_a_daylight_saving_zone_keeps_local_days(tmp_path: Path) -> None:
    tz = ZoneInfo("America/New_York")
    files = generate_files(
        tmp_path, users=300, days=20, seed=2, end=date(2025, 3, 20), fmt="csv", tz=tz
    )
    events = pd.read_csv(files.events_path, dtype=str)
    offsets = set(events["timestamp"].str[-6:])
    assert offsets == {"-05:00", "-04:00"}
    local = pd.to_datetime(events["timestamp"].str[:-6])
    assert local.min() >= pd.Timestamp("2025-03-01") and local.max() < pd.Timestamp("2025-03-21")
    utc = pd.to_datetime(events["timestamp"], format="ISO8601", utc=True)
    assert (utc.dt.tz_convert(tz).dt.tz_localize(None) == local).all()


def test_a_failed_run_keeps_the_previous_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import userops.demo.generate as gen

    generate_files(tmp_path, **OK)  # type: ignore[arg-type]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "simulate_visitors", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_files(tmp_path, **{**OK, "seed": 2})  # type: ignore[arg-type]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
