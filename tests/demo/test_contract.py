"""The files carry the columns and types of userops.domain.contract, in every format."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from userops.demo import DemoFiles
from userops.demo.truths import read_table
from userops.domain.contract import EVENT_FIELDS, ITEM_FIELDS, KNOWN_CHANNELS, USER_FIELDS

CUSTOM_TRAITS = {"device_os", "register_source_detail"}
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")
EVENT_COLUMNS = [
    "message_id",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "timestamp",
    "properties",
    "context",
]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_columns_follow_the_contract(fmt: str, make_demo: Callable[..., DemoFiles]) -> None:
    files = make_demo(fmt=fmt)
    assert files.events_path.name == f"events.{fmt}"
    events = read_table(files.events_path)
    users = read_table(files.users_path)
    items = read_table(files.items_path)
    assert list(events.columns) == EVENT_COLUMNS
    assert set(events.columns) <= set(EVENT_FIELDS)
    assert set(users.columns) == (set(USER_FIELDS) - {"traits"}) | CUSTOM_TRAITS
    assert list(items.columns) == list(ITEM_FIELDS)
    assert (len(users), len(events), len(items)) == (files.users, files.events, files.items)


def test_parquet_types(make_demo: Callable[..., DemoFiles]) -> None:
    files = make_demo()
    events = pq.read_schema(files.events_path)
    users = pq.read_schema(files.users_path)
    items = pq.read_schema(files.items_path)
    assert events.field("timestamp").type == pa.timestamp("us", tz="UTC")
    for name in ("message_id", "type", "event", "user_id", "anonymous_id", "properties", "context"):
        assert events.field(name).type == pa.string(), name
    assert users.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert users.field("birthday").type == pa.date32()
    assert items.field("price").type == pa.decimal128(12, 2)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_use_local_time_with_offset(
    fmt: str, make_demo: Callable[..., DemoFiles]
) -> None:
    events = read_table(make_demo(fmt=fmt).events_path)
    users = read_table(make_demo(fmt=fmt).users_path)
    assert events["timestamp"].str.match(LOCAL_TIME).all()
    assert users["created_at"].str.match(LOCAL_TIME).all()
    assert users["birthday"].dropna().str.match(r"^\d{4}-\d\d-\d\d$").all()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_hold_the_same_data_as_parquet(
    fmt: str, make_demo: Callable[..., DemoFiles]
) -> None:
    reference = pd.read_parquet(make_demo().events_path)
    text = read_table(make_demo(fmt=fmt).events_path)
    stamps = pd.to_datetime(text["timestamp"], format="ISO8601", utc=True)
    assert (stamps.to_numpy() == reference["timestamp"].to_numpy()).all()
    for column in ("message_id", "type", "event", "user_id", "anonymous_id", "properties"):
        assert (
            text[column].fillna("<null>").tolist() == reference[column].fillna("<null>").tolist()
        ), column


def test_event_names_and_json_bags(make_demo: Callable[..., DemoFiles]) -> None:
    events = pd.read_parquet(make_demo().events_path)
    assert set(events["type"]) == {"track", "identify"}
    tracked = events[events["type"] == "track"]
    assert set(tracked["event"]) == {
        "app_open",
        "view_item",
        "search",
        "add_to_cart",
        "purchase",
        "share",
        "invite",
    }
    assert events.loc[events["type"] == "identify", "event"].isna().all()
    props = events["properties"].map(json.loads)
    context = events["context"].map(json.loads)
    assert props.map(lambda p: isinstance(p, dict)).all()
    assert context.map(lambda c: c["os"]["name"] in {"iOS", "Android"}).all()
    assert context.map(lambda c: c["channel"] in KNOWN_CHANNELS).all()
    for name, keys in {
        "view_item": {"item_id", "category", "price"},
        "add_to_cart": {"item_id", "category", "price"},
        "search": {"query"},
        "purchase": {"order_id", "revenue", "currency", "item_id", "category", "items"},
    }.items():
        assert props[events["event"] == name].map(lambda p, k=keys: k <= set(p)).all(), name
    assert events["message_id"].is_unique


def test_users_look_real(make_demo: Callable[..., DemoFiles]) -> None:
    users = pd.read_parquet(make_demo(users=2_000).users_path)
    assert set(users["channel"]) == set(KNOWN_CHANNELS)
    assert set(users["gender"].dropna()) == {"male", "female"}
    assert users["gender"].isna().any() and users["email"].isna().any()
    assert users["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert users["phone"].is_unique and users["user_id"].is_unique
    assert users["email"].dropna().str.fullmatch(r"[a-z]+\d+@example\.(com|net|org)").all()
    assert users["province"].value_counts().index[0] == "广东"  # the most populous province
    assert users["city"].str.fullmatch(r"[\u4e00-\u9fff]+").all()
    assert users["device_os"].isin(["iOS", "Android"]).all()
