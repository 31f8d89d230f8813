"""The growth system (用户成长体系): points ledger, growth value, levels, benefits, incentive
rules, badges, leaderboards, the economy report and member tags (docs/membership.md).

Services take an `Engine` and own their transactions; `ledger` and `rules.apply_rules_to_events`
work inside a caller's `Session` so several writes can share one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from userops.settings import Settings
from userops.store.db import make_engine
from userops.store.migrate import upgrade


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """The application database at the current schema, for commands run outside the server."""
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        yield engine
    finally:
        engine.dispose()
