"""Same seed and end date, same bytes; anything else, different files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from userops.demo import DemoFiles, generate_files


def _bytes(files: DemoFiles) -> list[bytes]:
    return [Path(p).read_bytes() for p in (files.users_path, files.events_path, files.items_path)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_same_seed_gives_identical_bytes(fmt: str, tmp_path: Path) -> None:
    args = {"users": 300, "days": 30, "seed": 5, "end": date(2025, 6, 30), "fmt": fmt}
    first = generate_files(tmp_path / "a", **args)  # type: ignore[arg-type]
    second = generate_files(tmp_path / "b", **args)  # type: ignore[arg-type]
    assert _bytes(first) == _bytes(second)
    assert (first.users, first.events, first.items) == (second.users, second.events, second.items)


def test_regenerating_into_the_same_folder_overwrites(tmp_path: Path) -> None:
    args = {"users": 200, "days": 20, "seed": 5, "end": date(2025, 6, 30)}
    first = _bytes(generate_files(tmp_path, **args))  # type: ignore[arg-type]
    assert _bytes(generate_files(tmp_path, **args)) == first  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.parquet",
        "items.parquet",
        "users.parquet",
    ]


@pytest.mark.parametrize(
    "change", [{"seed": 6}, {"end": date(2025, 7, 1)}, {"users": 301}, {"days": 31}]
)
def test_other_arguments_give_other_events(
    change: dict[str, object], make_demo: Callable[..., DemoFiles]
) -> None:
    base = make_demo(end=date(2025, 6, 30), seed=5)
    other = make_demo(**{"end": date(2025, 6, 30), "seed": 5, **change})
    assert base.events_path.read_bytes() != other.events_path.read_bytes()
    assert base.users_path.read_bytes() != other.users_path.read_bytes()
