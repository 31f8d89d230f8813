"""Referential sanity of a data set generated in many chunks: ids, identity links, money, time."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from tests.demo.conftest import END
from userops.demo import DemoFiles

Data = tuple[DemoFiles, pd.DataFrame, pd.DataFrame, pd.DataFrame]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_every_user_id_in_events_is_a_user(chunked: Data) -> None:
    _, users, events, _ = chunked
    assert set(events["user_id"].dropna()) <= set(users["user_id"])
    assert events["message_id"].is_unique
    assert (events["user_id"].notna() | events["anonymous_id"].notna()).all()


def test_each_user_is_identified_once_at_signup_with_their_device(chunked: Data) -> None:
    _, users, events, _ = chunked
    identify = events[events["type"] == "identify"].set_index("user_id")
    assert identify.index.is_unique and len(identify) == len(users)
    assert identify["anonymous_id"].notna().all()
    assert identify["anonymous_id"].is_unique
    joined = users.set_index("user_id").join(identify["timestamp"])
    assert (joined["timestamp"] == joined["created_at"]).all()


def test_anonymous_history_comes_before_signup_and_links_by_device(chunked: Data) -> None:
    _, users, events, _ = chunked
    identify = events[events["type"] == "identify"][["user_id", "anonymous_id", "timestamp"]]
    anonymous = events[events["user_id"].isna()]
    linked = anonymous.merge(identify, on="anonymous_id", suffixes=("", "_signup"))
    assert len(linked) > 0, "some users must browse anonymously before signing up"
    assert (linked["timestamp"] < linked["timestamp_signup"]).all()
    # Some devices never sign up (visitors); their events stay anonymous.
    assert len(linked) < len(anonymous)
    share = linked["user_id_signup"].nunique() / len(users)
    assert 0.3 < share < 0.9


def test_nothing_a_user_does_precedes_their_signup(chunked: Data) -> None:
    _, users, events, _ = chunked
    signed = events.dropna(subset=["user_id"]).merge(users[["user_id", "created_at"]], on="user_id")
    assert (signed["timestamp"] >= signed["created_at"]).all()


def test_timestamps_are_inside_the_window(chunked: Data) -> None:
    _, users, events, _ = chunked
    start = datetime.combine(END - timedelta(days=39), time(0), SHANGHAI)
    stop = datetime.combine(END + timedelta(days=1), time(0), SHANGHAI)
    for stamps in (events["timestamp"], users["created_at"]):
        assert stamps.min() >= pd.Timestamp(start) and stamps.max() < pd.Timestamp(stop)


def test_purchase_revenue_is_the_sum_of_its_lines(chunked: Data) -> None:
    _, _, events, items = chunked
    price = {row.item_id: round(row.price * 100) for row in items.itertuples()}
    purchases = events.loc[events["event"] == "purchase"]
    assert len(purchases) > 20
    assert purchases["anonymous_id"].isna().all()  # orders are tracked server-side
    order_ids = set()
    for text in purchases["properties"]:
        order = json.loads(text, parse_float=str)
        lines = order["items"]
        revenue = round(float(order["revenue"]) * 100)
        assert revenue == sum(round(float(x["price"]) * 100) * x["quantity"] for x in lines)
        assert all(round(float(x["price"]) * 100) == price[x["item_id"]] for x in lines)
        assert order["currency"] == "CNY"
        assert order["item_id"] == lines[0]["item_id"]
        assert len({x["item_id"] for x in lines}) == len(lines)
        assert order["revenue"].count(".") == 1 and len(order["revenue"].split(".")[1]) == 2
        order_ids.add(order["order_id"])
    assert len(order_ids) == len(purchases)


def test_carts_follow_a_view_of_the_same_item(chunked: Data) -> None:
    _, _, events, _ = chunked
    picked = events[events["event"].isin(["view_item", "add_to_cart"])].copy()
    picked["item"] = picked["properties"].map(lambda p: json.loads(p)["item_id"])
    views = picked[picked["event"] == "view_item"]
    carts = picked[picked["event"] == "add_to_cart"]
    pairs = carts.merge(views, on=["anonymous_id", "item"], suffixes=("", "_view"))
    earlier = pairs[pairs["timestamp_view"] < pairs["timestamp"]]
    assert earlier["message_id"].nunique() == len(carts)


def test_referral_invites_name_an_invitee_who_joined_later(chunked: Data) -> None:
    _, users, events, _ = chunked
    invites = events[events["event"] == "invite"].copy()
    invites["invitee"] = invites["properties"].map(lambda p: json.loads(p).get("invitee"))
    named = invites.dropna(subset=["invitee"]).merge(
        users[["user_id", "channel", "created_at"]],
        left_on="invitee",
        right_on="user_id",
        suffixes=("", "_invitee"),
    )
    assert len(named) > 0
    assert (named["channel"] == "referral").all()
    assert (named["timestamp"] < named["created_at"]).all()
    assert named["invitee"].is_unique


def test_weekly_rhythm_sale_day_and_hours(chunked: Data) -> None:
    _, _, events, _ = chunked
    local = events["timestamp"].dt.tz_convert(SHANGHAI)
    day = local.dt.date
    purchases = events[events["event"] == "purchase"].groupby(day).size()
    assert str(purchases.idxmax()) == "2025-11-11"
    dau = events.dropna(subset=["user_id"]).groupby(day)["user_id"].nunique()
    weekend = pd.Series([d.weekday() >= 5 for d in dau.index], index=dau.index)
    late = dau.index >= (END - timedelta(days=20))  # past the ramp-up of a young user base
    assert dau[late & weekend].mean() > dau[late & ~weekend].mean()
    hours = local.dt.hour.value_counts()
    assert hours.loc[[20, 21]].sum() > 5 * hours.loc[[3, 4]].sum()
