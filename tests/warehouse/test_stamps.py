"""A table's stamp (row count, latest write time) changes with every write readers must see;
tag values keep theirs in a state row written with each write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from userops.profiles import tagvalues
from userops.settings import Settings
from userops.warehouse import stamps
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

WRITES = {
    "events": "INSERT INTO events (message_id, type, event, user_id, timestamp, received_at, "
    "batch_id) VALUES ('m1', 'track', 'open', 'u1', now(), now(), 'b')",
    "users": "INSERT INTO users (user_id, updated_at) VALUES ('u1', now())",
    "identities": "INSERT INTO identities (anonymous_id, user_id, linked_at, source) "
    "VALUES ('a1', 'u1', now(), 'identify')",
    "segment_members": "INSERT INTO segment_members VALUES ('s', 'u1', now())",
}
DAY = date(2026, 10, 1)
NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai")) as opened:
        init_warehouse(opened)
        yield opened


def _values(value: str) -> pa.Table:
    return pa.table({"user_id": ["u1", "u2"], "value": [value, "b"], "number": [None, None]})


def test_every_stamped_table_changes_its_stamp_on_a_write(wh: Warehouse) -> None:
    assert set(WRITES) | {"tag_values"} == set(stamps.STAMPED)
    before = stamps.states(wh, list(stamps.STAMPED))
    assert before == {t: (0, None) for t in stamps.STAMPED}
    for table, write in WRITES.items():
        wh.sql(write)
        count, latest = stamps.state(wh, table)
        assert count == 1 and latest is not None, table
    tagvalues.replace_values(wh, "t", _values("a"), snapshot_date=DAY, refreshed_at=NOW)
    after = stamps.states(wh, list(stamps.STAMPED))
    assert all(after[t] != before[t] for t in stamps.STAMPED)
    assert after["tag_values"] == (1, NOW)


def test_tag_values_are_seen_by_their_kept_state_without_a_scan(wh: Warehouse) -> None:
    """Every write through the writer moves the state, a write that keeps the count of values
    and one at an older clock included; the state is read from its row, not the values."""
    tagvalues.replace_values(wh, "t", _values("a"), snapshot_date=DAY, refreshed_at=NOW)
    first = stamps.state(wh, "tag_values")
    tagvalues.replace_values(  # the same count of values, a clock set back
        wh, "t", _values("c"), snapshot_date=DAY + timedelta(1), refreshed_at=NOW - timedelta(1)
    )
    second = stamps.state(wh, "tag_values")
    assert second[0] == first[0] + 1 and second[1] == NOW + timedelta(microseconds=1)
    assert wh.sql("SELECT max(refreshed_at) FROM tag_values") == [(second[1],)]
    tagvalues.drop_tag(wh, "t")
    assert stamps.state(wh, "tag_values") == (second[0] + 1, second[1])
    wh.sql("UPDATE tag_values_state SET writes = 41")  # what readers see: the kept row
    assert stamps.state(wh, "tag_values")[0] == 41


def test_a_warehouse_without_the_state_row_is_scanned_then_seeded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai")
    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        tagvalues.replace_values(wh, "t", _values("a"), snapshot_date=DAY, refreshed_at=NOW)
        wh.sql("DROP TABLE tag_values_state")  # as a warehouse written before it existed
        assert stamps.state(wh, "tag_values") == (2, NOW)  # scanned: the values and their stamp
    with open_warehouse(settings) as wh:
        tagvalues.ensure_tables(wh)
        assert stamps.state(wh, "tag_values") == (0, NOW)  # seeded from the values
        tagvalues.replace_values(
            wh, "t", _values("c"), snapshot_date=DAY + timedelta(1), refreshed_at=NOW
        )
        assert stamps.state(wh, "tag_values") == (1, NOW + timedelta(microseconds=1))
