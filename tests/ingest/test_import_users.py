"""User traits and items: upsert on the key, rows of a key applied in turn (NULL keeps, bags
merge), re-import changes nothing."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from userops.errors import InputError
from userops.ingest.pipeline import import_files
from userops.warehouse.connection import Warehouse

from .conftest import write


def run(wh: Warehouse, tmp_path: Path, kind: str, path: Path, **kw: object):
    return import_files(wh, kind, [path], quarantine_dir=tmp_path / "q", **kw)  # type: ignore[arg-type]


def test_users_upsert_merge_and_reimport(warehouse: Warehouse, tmp_path: Path) -> None:
    first = write(
        tmp_path / "u1.csv",
        "user_id,created_at,channel,gender,birthday,city,vip_note\n"
        "u1,2026-01-05 09:00:00,paid_search,female,1995-04-01,杭州,gold\n"
        "u2,2026-01-06T10:00:00+08:00,referral,,,上海,\n",
    )
    s1 = run(warehouse, tmp_path, "users", first)
    assert s1.as_json() == {"accepted": 2, "rejected": 0, "duplicates": 0, "quarantine": None}
    again = run(warehouse, tmp_path, "users", first)
    assert (again.accepted, again.duplicates) == (0, 2)
    update = write(
        tmp_path / "u2.csv",
        "user_id,city,occupation,vip_note,pets\nu1,,teacher,,cat\nu1,北京,,,\n",
    )
    s2 = run(warehouse, tmp_path, "users", update)
    assert (s2.accepted, s2.duplicates) == (1, 1)  # one user changed, by two rows
    [(channel, gender, birthday, city, occupation, traits)] = warehouse.sql(
        "SELECT channel, gender, birthday, city, occupation, traits FROM users WHERE user_id = 'u1'"
    )
    assert (channel, gender, birthday, city) == ("paid_search", "female", date(1995, 4, 1), "北京")
    assert occupation == "teacher"  # rows of one user apply in turn: the later one has none
    assert json.loads(traits) == {"vip_note": "gold", "pets": "cat"}
    # Two files in one import give what the two imports one after the other give.
    together = write(tmp_path / "t1.csv", "user_id,email,pets\nu9,a@example.com,dog\n")
    apart = write(tmp_path / "t2.csv", "user_id,phone,pets\nu9,13800000000,\n")
    joint = import_files(warehouse, "users", [together, apart], quarantine_dir=tmp_path / "q")
    assert joint.accepted == 1
    [(email, phone, bag)] = warehouse.sql(
        "SELECT email, phone, traits FROM users WHERE user_id = 'u9'"
    )
    assert (email, phone, json.loads(bag)) == ("a@example.com", "13800000000", {"pets": "dog"})


def test_user_bad_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(
        tmp_path / "u.csv",
        "user_id,created_at,birthday\n,2026-01-01,\nu1,someday,\nu2,,1990-02-30\nu3,,\n",
    )
    summary = run(warehouse, tmp_path, "users", f)
    assert (summary.accepted, summary.rejected) == (1, 3)
    assert summary.quarantine
    reasons = [json.loads(x)["reason"] for x in Path(summary.quarantine).read_text().splitlines()]
    assert reasons == [
        "missing id: user_id is required",
        'created_at "someday" is not an ISO-8601 time',
        'birthday "1990-02-30" is not a date (YYYY-MM-DD)',
    ]
    with pytest.raises(InputError, match=r"no column 'user_id'"):
        run(warehouse, tmp_path, "users", write(tmp_path / "x.csv", "id,city\n1,x\n"))


def test_items_catalogue(warehouse: Warehouse, tmp_path: Path) -> None:
    f = write(
        tmp_path / "i.csv",
        "item_id,name,category,price,brand\nsku1,跑鞋,shoes,299.00,ACME\nsku2,袜子,socks,abc,\n",
    )
    summary = run(warehouse, tmp_path, "items", f)
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert warehouse.sql("SELECT item_id, price, properties->>'brand' FROM items") == [
        ("sku1", Decimal("299.00"), "ACME")
    ]


def test_nan_in_users_and_items_parquet_is_quarantined(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    nan, inf = float("nan"), float("inf")
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "score": [1.5, nan]}), tmp_path / "u.parquet")
    users = run(warehouse, tmp_path, "users", tmp_path / "u.parquet")
    assert (users.accepted, users.rejected) == (1, 1)
    [bad_user] = [json.loads(x) for x in Path(str(users.quarantine)).read_text().splitlines()]
    assert bad_user["reason"] == "traits.score holds NaN or Infinity, which JSON does not allow"
    pq.write_table(
        pa.table({"item_id": ["i1", "i2", "i3"], "price": [9.5, nan, 1.0], "w": [1.0, 1.0, inf]}),
        tmp_path / "i.parquet",
    )
    items = run(warehouse, tmp_path, "items", tmp_path / "i.parquet")
    assert (items.accepted, items.rejected) == (1, 2)
    reasons = [
        json.loads(x)["reason"] for x in Path(str(items.quarantine)).read_text().splitlines()
    ]
    assert reasons == [
        'price "nan" is not a number within ±10^16',
        "properties.w holds NaN or Infinity, which JSON does not allow",
    ]
    assert warehouse.sql("SELECT user_id, traits FROM users") == [("u1", '{"score":1.5}')]
    assert warehouse.sql("SELECT item_id, price FROM items") == [("i1", Decimal("9.50"))]
