"""The user 360: traits, named tag values, RFM scores, stage and grade history from the
snapshots, the event timeline (merged anonymous events included, newest first, paged without
gaps or repeats), the membership summary; search by id, phone and email; masking."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tests.profiles.conftest import Refreshable
from tests.profiles.tag_data import TODAY
from userops.errors import InputError, NotFoundError
from userops.membership import points
from userops.profiles import refresh, user360

DAY1 = TODAY - timedelta(days=50)


@pytest.fixture
def refreshed(fresh: Refreshable) -> Refreshable:
    with fresh.warehouse() as wh:
        for day in (DAY1, TODAY):
            refresh.refresh_tags(
                fresh.engine, lambda: refresh.lend(wh), today=day, tz=fresh.settings.tz
            )
    return fresh


def _events_of(fresh: Refreshable, uid: str) -> list[str]:
    """The reference: message ids of the user's events, newest first (ties by message id)."""
    f = fresh.world.frames
    linked = set(f.identities[f.identities.user_id == uid].anonymous_id)
    mine = f.events[
        (f.events.user_id == uid) | (f.events.user_id.isna() & f.events.anonymous_id.isin(linked))
    ]
    mine = mine.sort_values(["ts", "message_id"], ascending=False)
    return list(mine.message_id)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("+8613812345678", "+86****5678"), ("12345", "***45"),
     ("12", "**")],
)  # fmt: skip
def test_mask_phone(phone: str, masked: str) -> None:
    assert user360.mask_phone(phone) == masked


def test_mask_email_and_contact() -> None:
    assert user360.mask_email("zhang.san@example.com") == "z***@example.com"
    record = {"user_id": "u1", "phone": "13812345678", "email": "a@b.cn", "city": "上海"}
    assert user360.mask_contact(record, reveal=False) == {
        "user_id": "u1",
        "phone": "138****5678",
        "email": "a***@b.cn",
        "city": "上海",
    }
    assert user360.mask_contact(record, reveal=True) == record
    assert [r for r in ("viewer", "analyst", "operator") if user360.may_see_contact(r)] == []
    assert user360.may_see_contact("admin")


def test_profile_of_a_user_merged_from_an_anonymous_id(refreshed: Refreshable) -> None:
    uid = "u000"  # browsed anonymously, then identified (tag_data: u % 9 == 0, link 0)
    with refreshed.warehouse() as wh:
        found = user360.profile(refreshed.engine, wh, uid, limit=5)
        data = found.as_json(reveal=False)
        expected = _events_of(refreshed, uid)
        assert [e["message_id"] for e in data["timeline"]["events"]] == expected[:5]
        anonymous = [e for e in expected if e.startswith("m")]
        assert anonymous
        pages: list[str] = []
        offset = 0
        while True:
            page = user360.timeline(wh, uid, limit=3, offset=offset)
            pages += [e["message_id"] for e in page.events]
            if not page.has_more:
                break
            offset += 3
        assert pages == expected
    assert data["traits"]["phone"] == "138****0000"
    assert data["traits"]["email"] == "U***@Example.com"
    tags = {t["code"]: t for t in data["tags"]}
    assert tags["lifecycle_stage"]["label"] in {"引入期", "成长期", "成熟期", "休眠期", "流失期"}
    assert tags["intent_level"]["name"] == "渠道意向"
    assert data["lifecycle_stage"]["value"] == tags["lifecycle_stage"]["value"]
    assert set(data["history"]) == {"lifecycle_stage", "value_grade", "rfm_group"}
    stages = data["history"]["lifecycle_stage"]
    assert stages[0]["since"] == DAY1.isoformat() and stages[-1]["until"] == TODAY.isoformat()
    assert all(a["value"] != b["value"] for a, b in itertools.pairwise(stages))
    assert data["membership"] == {"points": {"available": 0, "pending": 0}, "levels": []}


def test_rfm_scores_and_membership(refreshed: Refreshable) -> None:
    with refreshed.warehouse() as wh:
        buyer = wh.sql("SELECT min(user_id) FROM tag_values WHERE tag = 'rfm_group'")[0][0]
        values = dict(
            wh.sql("SELECT tag, value FROM tag_values WHERE user_id = ? AND tag LIKE 'rfm%'",
                   [buyer])
        )  # fmt: skip
        points.award(refreshed.engine, user_id=buyer, amount=30, key="k", at=datetime.now(UTC))
        data = user360.profile(refreshed.engine, wh, buyer).as_json(reveal=True)
    rfm = data["rfm"]
    assert rfm["group"] == values["rfm_group"] and rfm["label"]
    assert (str(rfm["r"]), str(rfm["f"]), str(rfm["m"])) == (
        values["rfm_r"],
        values["rfm_f"],
        values["rfm_m"],
    )
    assert data["membership"]["points"]["available"] == 30


def test_users_known_only_from_events_and_unknown_users(refreshed: Refreshable) -> None:
    no_row = "u005"  # tag_data: u % 6 == 5 has no users row
    with refreshed.warehouse() as wh:
        found = user360.profile(refreshed.engine, wh, no_row, membership=False)
        assert found.traits is None and found.as_json(reveal=False)["traits"] is None
        with pytest.raises(NotFoundError, match="no user 'nobody'"):
            user360.profile(refreshed.engine, wh, "nobody")
        with pytest.raises(InputError, match="limit"):
            user360.timeline(wh, no_row, limit=0)
        with pytest.raises(InputError, match="offset must be 0 to 1,000,000,000"):
            user360.timeline(wh, no_row, offset=2**63)
        # A control character never reaches the warehouse's SQL (ingestion refuses such ids).
        for read in (
            lambda: user360.profile(refreshed.engine, wh, "u0\x0005"),
            lambda: user360.timeline(wh, "u\x00"),
            lambda: user360.search(wh, "u0\x00", reveal=True),
        ):
            with pytest.raises(InputError, match="contains a control character"):
                read()


def test_search_by_id_phone_and_email(refreshed: Refreshable) -> None:
    with refreshed.warehouse() as wh:
        by_prefix = user360.search(wh, "u01", reveal=False)
        with_rows = [f"u0{n}" for n in range(10, 20) if n % 6 != 5]  # tag_data: no row if 5
        assert [r["user_id"] for r in by_prefix] == with_rows
        exact_phone = user360.search(wh, "13800000010", reveal=False)
        assert [r["user_id"] for r in exact_phone] == ["u010"]
        assert exact_phone[0]["phone"] == "138****0010"
        assert user360.search(wh, "1380000001", reveal=False) == []  # no prefix below admin
        admin = user360.search(wh, "1380000001", reveal=True)
        assert [r["user_id"] for r in admin] == ["u010", "u015"]
        assert admin[0]["phone"] == "13800000010"
        email = user360.search(wh, "user.u012@example.com", reveal=False)
        assert [r["user_id"] for r in email] == ["u012"] and email[0]["email"] == "U***@Example.com"
        assert user360.search(wh, "u005", reveal=False)[0]["user_id"] == "u005"  # events only
        with pytest.raises(InputError, match="give a user id"):
            user360.search(wh, "  ", reveal=True)
