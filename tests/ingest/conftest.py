from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", timezone="Asia/Shanghai")


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Warehouse]:
    wh = open_warehouse(settings)
    init_warehouse(wh)
    yield wh
    wh.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path
