from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.support import Console, cheap_password_hashing, running_console


@pytest.fixture(scope="module", autouse=True)
def _cheap_hashing() -> Iterator[None]:
    """Quick Argon2 for this folder's modules only (undone after each, so other folders' tests
    on the same worker hash for real)."""
    with cheap_password_hashing():
        yield


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path / "data") as running:
        yield running


@pytest.fixture(scope="module")
def shared_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One console for a module of read-mostly tests (the role table)."""
    with running_console(tmp_path_factory.mktemp("console") / "data") as running:
        yield running
