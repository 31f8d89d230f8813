from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.support import (
    Console,
    Server,
    cheap_password_hashing,
    running_console,
    running_server,
)


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


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real server for a module of browser tests, over a demo data set of the module's
    DEMO_SIZE = (users, days), 300 x 40 by default."""
    users, days = getattr(request.module, "DEMO_SIZE", (300, 40))
    with running_server(tmp_path_factory.mktemp("browser") / "data", users=users, days=days) as up:
        yield up
