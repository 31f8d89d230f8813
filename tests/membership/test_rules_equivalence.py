"""Incentive rules applied to the demo events give the same balances whether the events arrive
live, through the ingestion API in arrival-sized requests, or are imported as history and
backfilled; and running the backfill again changes nothing.

The live side posts the events to /v1/batch of an in-process server, in time order, in
requests of 1 to 400 messages; the server's ingestion writer applies the rules to each batch
it commits (its after-commit hook calls `rules.apply_batch` on the server's own database).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.api.conftest import basic, new_key
from userops.demo import generate_files
from userops.domain.membership.incentives import AwardFormula, Caps
from userops.ingest.service import import_paths
from userops.membership import points, rules
from userops.server import create_app
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.models import GrowthEntry, PointsEntry, RuleApplication
from userops.warehouse.connection import open_warehouse

SH = ZoneInfo("Asia/Shanghai")
END = date(2026, 5, 31)


def define_rules(engine: Engine) -> None:
    rules.create_rule(
        engine,
        code="buy",
        name="1 point per yuan",
        event="purchase",
        points=AwardFormula("per_amount", 1),
        growth=AwardFormula("per_amount", 1),
        points_caps=Caps(day=300, period=1500),
        cap_period="week",
        maturity_days=7,
        expiry="year_end:1",
    )
    rules.create_rule(
        engine,
        code="checkin",
        name="Daily check-in",
        event="app_open",
        points=AwardFormula("fixed", 2),
        growth=AwardFormula("fixed", 1),
        points_caps=Caps(day=2, lifetime=40),
        growth_caps=Caps(day=1),
        expiry="days:30",
    )
    rules.create_rule(
        engine,
        code="share",
        name="Share",
        event="share",
        points=AwardFormula("fixed", 5),
        points_caps=Caps(period=15),
        cap_period="month",
    )
    rules.create_rule(
        engine,
        code="invite",
        name="Friend joined",
        event="invite",
        filters=["invitee?"],
        points=AwardFormula("fixed", 50),
        growth=AwardFormula("fixed", 20),
        points_caps=Caps(lifetime=100),
    )


def outcome(engine: Engine, at: datetime) -> dict[str, Any]:
    with session_scope(engine, read_only=True) as session:
        ledger = dict(
            session.execute(
                select(PointsEntry.user_id, func.sum(PointsEntry.amount)).group_by(
                    PointsEntry.user_id
                )
            ).all()
        )
        grown = dict(
            session.execute(
                select(GrowthEntry.user_id, func.sum(GrowthEntry.amount)).group_by(
                    GrowthEntry.user_id
                )
            ).all()
        )
        by_rule = dict(
            session.execute(
                select(RuleApplication.rule_id, func.sum(RuleApplication.points)).group_by(
                    RuleApplication.rule_id
                )
            ).all()
        )
        applied = session.scalar(select(func.count()).select_from(RuleApplication))
    available = {user: points.balance(engine, user_id=user, at=at).available for user in ledger}
    return {
        "ledger": ledger,
        "available": available,
        "growth": grown,
        "by_rule": by_rule,
        "applied": applied,
    }


def messages(events_path: Path) -> list[dict[str, Any]]:
    """The demo events as Segment messages, in time order (as a live app would send them)."""
    rows = (
        duckdb.connect()
        .execute(
            "SELECT message_id, type, event, user_id, anonymous_id, timestamp, properties, context "
            "FROM read_parquet(?) ORDER BY timestamp, message_id",
            [str(events_path)],
        )
        .fetchall()
    )
    found = []
    for mid, kind, event, user, anon, ts, props, context in rows:
        bag = orjson.loads(props) if props else {}
        message = {
            "type": kind,
            "messageId": mid,
            "timestamp": ts.isoformat(),
            "context": orjson.loads(context) if context else {},
        }
        message.update({k: v for k, v in (("userId", user), ("anonymousId", anon)) if v})
        if kind == "identify":
            message["traits"] = bag
        else:
            message["event"] = event
            message["properties"] = bag
        found.append(message)
    return found


@pytest.mark.slow
def test_demo_events_live_and_backfilled_give_the_same_balances(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    files = generate_files(tmp_path / "demo", users=600, days=45, seed=11, end=END, tz=SH)
    live_url = new_database()
    live_engine, history_engine = make_engine(live_url), make_engine(new_database())
    try:
        define_rules(live_engine)
        define_rules(history_engine)

        # Live: the ingestion API, request by request; the server applies the rules itself.
        settings = Settings(
            data_dir=tmp_path / "server", timezone="Asia/Shanghai", database_url=live_url
        )
        key = new_key(settings)
        sent = messages(files.events_path)
        rng = random.Random(3)
        with TestClient(create_app(settings)) as client:
            start = 0
            while start < len(sent):
                size = rng.randint(1, 400)
                batch = sent[start : start + size]
                start += size
                answer = client.post("/v1/batch", json={"batch": batch}, headers=basic(key))
                assert answer.status_code == 200, answer.text
        with session_scope(live_engine) as session:
            applied, given, grown = session.execute(
                select(
                    func.count(RuleApplication.id),
                    func.coalesce(func.sum(RuleApplication.points), 0),
                    func.coalesce(func.sum(RuleApplication.growth), 0),
                )
            ).one()
        live = rules.ApplyResult(applied=int(applied), points=int(given), growth=int(grown))

        # History: the same file imported in bulk, then one backfill.
        history = Settings(data_dir=tmp_path / "history", timezone="Asia/Shanghai")
        assert import_paths(history, "events", [files.events_path]).rejected == 0
        with open_warehouse(history) as wh:
            backfilled = rules.backfill(history_engine, wh, tz=SH, chunk=3000)
            again = rules.backfill(history_engine, wh, tz=SH)

        assert backfilled.applied > 500 and backfilled.points > 0
        assert (live.applied, live.points, live.growth) == (
            backfilled.applied,
            backfilled.points,
            backfilled.growth,
        )
        assert (again.applied, again.points) == (0, 0)
        when = datetime(2026, 6, 10, tzinfo=SH)  # everything matured, nothing expired yet...
        for engine in (live_engine, history_engine):
            points.expire(engine, at=when)  # ...except check-ins of early May (days:30)
        assert outcome(live_engine, when) == outcome(history_engine, when)
        assert sum(outcome(live_engine, when)["available"].values()) > 0
    finally:
        live_engine.dispose()
        history_engine.dispose()


def test_backfill_of_a_time_range_then_the_rest(engine: Engine, tmp_path: Path) -> None:
    files = generate_files(tmp_path / "demo", users=120, days=20, seed=2, end=END, tz=SH)
    define_rules(engine)
    settings = Settings(data_dir=tmp_path / "wh", timezone="Asia/Shanghai")
    import_paths(settings, "events", [files.events_path])
    middle = datetime(2026, 5, 22, tzinfo=SH)
    with open_warehouse(settings) as wh:
        first = rules.backfill(engine, wh, tz=SH, until=middle)
        rest = rules.backfill(engine, wh, tz=SH, since=middle - timedelta(days=2))
        whole = rules.backfill(engine, wh, tz=SH)
    assert first.applied > 0 and rest.applied > 0 and whole.applied == 0
