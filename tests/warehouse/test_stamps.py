"""A table's stamp (row count, latest write time) changes with every write readers must see."""

from __future__ import annotations

from pathlib import Path

from userops.profiles import tagvalues
from userops.settings import Settings
from userops.warehouse import stamps
from userops.warehouse.connection import init_warehouse, open_warehouse

WRITES = {
    "events": "INSERT INTO events (message_id, type, event, user_id, timestamp, received_at, "
    "batch_id) VALUES ('m1', 'track', 'open', 'u1', now(), now(), 'b')",
    "users": "INSERT INTO users (user_id, updated_at) VALUES ('u1', now())",
    "identities": "INSERT INTO identities (anonymous_id, user_id, linked_at, source) "
    "VALUES ('a1', 'u1', now(), 'identify')",
    "tag_values": "INSERT INTO tag_values VALUES ('t', 'u1', 'x', NULL, now())",
    "segment_members": "INSERT INTO segment_members VALUES ('s', 'u1', now())",
}


def test_every_stamped_table_changes_its_stamp_on_a_write(tmp_path: Path) -> None:
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai")) as wh:
        init_warehouse(wh)
        tagvalues.ensure_tables(wh)
        assert set(WRITES) == set(stamps.STAMPED)
        before = stamps.states(wh, list(stamps.STAMPED))
        assert before == {t: (0, None) for t in stamps.STAMPED}
        for table, write in WRITES.items():
            wh.sql(write)
            count, latest = stamps.state(wh, table)
            assert count == 1 and latest is not None, table
        after = stamps.states(wh, list(stamps.STAMPED))
        assert all(after[t] != before[t] for t in stamps.STAMPED)
