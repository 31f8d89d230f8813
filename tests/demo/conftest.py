"""Small generated data sets shared by the demo tests (each built once per test session)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import pytest

from userops.demo import DemoFiles, generate_files

END = date(2025, 11, 30)  # 双11 falls inside a 30-day window ending here


@pytest.fixture(scope="session")
def make_demo(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., DemoFiles]:
    """Generate into a fresh folder; the same arguments reuse the first result."""
    cache: dict[tuple[object, ...], DemoFiles] = {}

    def make(**kwargs: object) -> DemoFiles:
        args = {"users": 300, "days": 30, "seed": 7, "end": END, "fmt": "parquet", **kwargs}
        key = tuple(sorted((k, str(v)) for k, v in args.items()))
        if key not in cache:
            folder = tmp_path_factory.mktemp("demo")
            cache[key] = generate_files(folder, **args)  # type: ignore[arg-type]
        return cache[key]

    return make


@pytest.fixture(scope="session")
def chunked(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DemoFiles, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """1,500 users over 40 days in many small chunks, read back with pandas."""
    import userops.demo.generate as gen

    saved = gen.CELLS_PER_CHUNK, gen.VISITORS_PER_CHUNK, gen.USERS_FILE_CHUNK
    gen.CELLS_PER_CHUNK, gen.VISITORS_PER_CHUNK, gen.USERS_FILE_CHUNK = 8_000, 150, 400
    try:
        files = generate_files(
            tmp_path_factory.mktemp("chunked"), users=1_500, days=40, seed=11, end=END
        )
    finally:
        gen.CELLS_PER_CHUNK, gen.VISITORS_PER_CHUNK, gen.USERS_FILE_CHUNK = saved
    return (
        files,
        pd.read_parquet(files.users_path),
        pd.read_parquet(files.events_path),
        pd.read_parquet(files.items_path),
    )
