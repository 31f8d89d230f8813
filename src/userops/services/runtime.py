"""What a long-running process (the server) holds open: settings, both stores, one write lock.

The server owns the DuckDB warehouse while it runs (docs/decisions/0001-warehouse-ownership.md):
one connection, used under a lock, so ingestion writes and console reads never interleave on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from userops.profiles.taxonomy import seed_builtins
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.ensure_data_dir()
        upgrade(settings.resolved_database_url)
        self.engine: Engine = make_engine(settings.resolved_database_url)
        seed_builtins(self.engine)  # the built-in tag taxonomy (idempotent)
        self._warehouse: Warehouse = open_warehouse(settings)
        init_warehouse(self._warehouse)
        self._lock = threading.RLock()

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        """Exclusive use of the warehouse connection for one unit of work."""
        with self._lock:
            yield self._warehouse

    @contextmanager
    def db(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def close(self) -> None:
        with self._lock:
            self._warehouse.close()
        self.engine.dispose()
