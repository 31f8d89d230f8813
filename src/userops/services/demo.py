"""Load the demo dataset: generate files under the data folder, then import them like any file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from userops.demo import generate_files
from userops.domain.imports import ImportSummary
from userops.domain.membership.incentives import AwardFormula, Caps
from userops.ingest.pipeline import Progress
from userops.ingest.service import import_paths
from userops.membership import levels, rules
from userops.membership.levels import LevelSpec
from userops.settings import Settings
from userops.store.db import make_engine
from userops.warehouse.connection import init_warehouse, warehouse_session

DEMO_SCHEME = "member"
DEMO_LEVELS = (
    LevelSpec("silver", "白银会员", 0),
    LevelSpec("gold", "黄金会员", 500),
    LevelSpec("platinum", "铂金会员", 2_000),
    LevelSpec("diamond", "钻石会员", 6_000),
)


@dataclass(frozen=True, slots=True)
class DemoLoad:
    users: ImportSummary
    items: ImportSummary
    events: ImportSummary

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k).as_dict() for k in ("users", "items", "events")}


def warehouse_is_empty(settings: Settings) -> bool:
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        [(count,)] = wh.sql("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)")
    return int(count) == 0


def load_demo(
    settings: Settings,
    *,
    users: int = 20_000,
    days: int = 90,
    seed: int = 42,
    end: date | None = None,
    progress: Progress | None = None,
) -> DemoLoad:
    step = progress or (lambda _label: None)
    end = end or datetime.now(settings.tz).date()
    out = settings.ensure_data_dir() / "demo"
    step(f"generating {users:,} users x {days} days")
    files = generate_files(out, users=users, days=days, seed=seed, end=end, tz=settings.tz)
    return DemoLoad(
        users=import_paths(settings, "users", [files.users_path], progress=step),
        items=import_paths(settings, "items", [files.items_path], progress=step),
        events=import_paths(settings, "events", [files.events_path], progress=step),
    )


def seed_demo_membership(settings: Settings, *, progress: Progress | None = None) -> int:
    """Give the demo a growth system to look at: a level scheme (up and down over 12 months,
    30 days kept), points and growth value for purchases (one per yuan, points mature after a
    7-day return window and expire at the end of the next year) and for invites (capped per
    day), applied to the demo's history, and the levels evaluated for today.

    Does nothing when any level scheme exists (the operator's own set-up is never touched);
    returns the number of rule applications written.
    """
    step = progress or (lambda _label: None)
    engine = make_engine(settings.resolved_database_url)
    try:
        if levels.list_schemes(engine):
            return 0
        levels.create_scheme(
            engine,
            code=DEMO_SCHEME,
            name="会员等级",
            levels=DEMO_LEVELS,
            policy="up_down",
            window_months=12,
            keep_days=30,
            notice_days=7,
            actor="demo",
        )
        per_yuan = AwardFormula("per_amount", 1, 100)
        rules.create_rule(
            engine,
            code="purchase_points",
            name="购物积分",
            event="purchase",
            points=per_yuan,
            growth=per_yuan,
            maturity_days=7,
            expiry="year_end:1",
            actor="demo",
        )
        rules.create_rule(
            engine,
            code="invite_bonus",
            name="邀请有礼",
            event="invite",
            points=AwardFormula("fixed", 50),
            growth=AwardFormula("fixed", 20),
            points_caps=Caps(day=150),
            growth_caps=Caps(day=60),
            reference_property=None,
            actor="demo",
        )
        step("applying the incentive rules to the demo history")
        with warehouse_session(settings) as wh:
            applied = rules.backfill(engine, wh, tz=settings.tz)
            step("evaluating levels")
            levels.evaluate(engine, on=datetime.now(settings.tz).date(), tz=settings.tz)
            levels.publish_level_events(engine, wh, tz=settings.tz)
        return applied.applied
    finally:
        engine.dispose()
