"""A small generated world for the audience tests, and an independent reference evaluator.

The events and users come from tests/analytics/data.py (midnights, merged anonymous ids,
duplicates, users without events and events without users...). On top: birthdays (one on 29
February), occupations, hostile trait values (quotes, SQL fragments), custom traits of several
JSON types, tag values (an enum with a quote in one value, a score, a boolean, a date, values
for users nobody knows) and the members of a static segment.

`reference(world, rule_json, today)` evaluates a rule's JSON straight from that data in plain
Python and pandas, following docs/segments.md, without any code of userops: the tests compare
the compiled Ibis expressions against it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from tests.analytics.data import World, generate, resolve, write
from userops.ingest.pipeline import import_files
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

TODAY = date(2026, 11, 20)  # events after it exist and must not count
HOSTILE = ['O\'Brien "路"', "'; DROP TABLE users; --", "a\\b%_", "北京"]
OCCUPATIONS = ["teacher", "engineer", None, HOSTILE[0]]
RFM = ["重要价值", "一般发展", "it's fine", "重要挽留"]
ZONES = [("Asia/Shanghai", 11), ("America/Los_Angeles", 12)]


@dataclass
class ProfileWorld:
    wh: Warehouse
    world: World
    settings: Settings
    tags: dict[str, dict[str, tuple[str, float | None]]]  # tag -> uid -> (value, number)
    segments: dict[str, set[str]] = field(default_factory=dict)

    @property
    def universe(self) -> set[str]:
        return set(self.world.users) | set(self.world.events["uid"].dropna())


def _extend_users(users: list[dict[str, Any]], rng: random.Random) -> None:
    for i, user in enumerate(users):
        roll = rng.random()
        if roll < 0.15:
            user["birthday"] = None
        elif roll < 0.2:
            user["birthday"] = "1996-02-29"
        else:
            user["birthday"] = date(
                rng.randint(1960, 2015), rng.randint(1, 12), rng.randint(1, 28)
            ).isoformat()
        user["occupation"] = rng.choice(OCCUPATIONS)
        user["note"] = HOSTILE[i % len(HOSTILE)] if rng.random() < 0.3 else None
        user["level"] = rng.choice([None, 1, 2, 3])
    for i, value in enumerate(HOSTILE):
        users.append(
            {
                "user_id": f"h{i}",
                "created_at": "2026-10-01T08:00:00+08:00",
                "channel": "social",
                "city": value,
                "gender": None,
                "device_os": None,
                "birthday": "2000-11-20",
                "occupation": value,
                "note": value,
                "level": None,
            }
        )
    # Custom traits as JSON of every type: written by hand below, since a CSV column is text.


def _tags(universe: list[str], rng: random.Random) -> dict[str, dict[str, tuple[str, Any]]]:
    tags: dict[str, dict[str, tuple[str, Any]]] = {"rfm_group": {}, "score": {}, "vip": {}}
    tags["first_buy"] = {}
    for uid in [*universe, "ghost1", "ghost2"]:
        if rng.random() < 0.7:
            tags["rfm_group"][uid] = (rng.choice(RFM), None)
        if rng.random() < 0.6:
            number = rng.choice([0.0, 1.5, 10.0, 55.25, 99.0, -3.0])
            tags["score"][uid] = (repr(number), number)
        if rng.random() < 0.3:
            tags["vip"][uid] = ("true", None)
        if rng.random() < 0.4:
            day = date(2026, 9, 1) + timedelta(days=rng.randint(0, 90))
            tags["first_buy"][uid] = (day.isoformat(), None)
    return tags


def build(folder: Path, zone: str, seed: int) -> ProfileWorld:
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    rows, users = generate(seed, tz)
    _extend_users(users, rng)
    # A property with quotes, on some purchases.
    for row in rows:
        if row.get("event") == "purchase" and rng.random() < 0.3:
            row["props"] = {**row["props"], "coupon": HOSTILE[rng.randint(0, 3)]}
    events_csv, users_csv = write(rows, users, folder)
    settings = Settings(data_dir=folder / "data", timezone=zone)
    wh = open_warehouse(settings)
    init_warehouse(wh)
    import_files(wh, "users", [users_csv], quarantine_dir=folder / "q")
    summary = import_files(wh, "events", [events_csv], quarantine_dir=folder / "q")
    assert summary.rejected == 0, summary
    world = resolve(rows, users, tz)
    # Typed custom traits: level as a JSON number (CSV columns arrive as text), vip as boolean.
    for uid, traits in world.users.items():
        level = traits.get("level")
        flag = None if traits.get("device_os") is None else traits.get("device_os") == "iOS"
        payload: dict[str, Any] = {}
        if level is not None and not (isinstance(level, float) and math.isnan(level)):
            payload["level"] = int(level)
        if flag is not None:
            payload["ios"] = flag
        traits["level"] = payload.get("level")
        traits["ios"] = payload.get("ios")
        wh.sql(
            "UPDATE users SET traits = json_merge_patch(coalesce(traits, '{}'), ?::JSON) "
            "WHERE user_id = ?",
            [json.dumps({"level": payload.get("level"), "ios": payload.get("ios")}), uid],
        )
    universe = sorted(set(world.users) | set(world.events["uid"].dropna()))
    tags = _tags(universe, rng)
    now = datetime.now(UTC)
    for code, values in tags.items():
        for uid, (value, number) in values.items():
            wh.sql("INSERT INTO tag_values VALUES (?, ?, ?, ?, ?)", [code, uid, value, number, now])
    members = {uid for uid in universe if rng.random() < 0.25} | {"ghost3"}
    for uid in members:
        wh.sql("INSERT INTO segment_members VALUES ('seg_static', ?, ?)", [uid, now])
    return ProfileWorld(wh, world, settings, tags, {"seg_static": members})


_CACHE: dict[str, ProfileWorld] = {}


def loaded(zone: str, seed: int, folder: Callable[[], Path]) -> ProfileWorld:
    """One world per zone for the whole session (the tests only read it)."""
    if zone not in _CACHE:
        _CACHE[zone] = build(folder(), zone, seed)
    return _CACHE[zone]


# --- the reference ---------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _years_before(day: date, years: int) -> date:
    if day.month == 2 and day.day == 29:
        try:
            return day.replace(year=day.year - years)
        except ValueError:
            return date(day.year - years, 2, 28)
    return day.replace(year=day.year - years)


def _age(birthday: date, today: date) -> int:
    years = today.year - birthday.year
    if (today.month, today.day) < (birthday.month, birthday.day):
        years -= 1
    return years


def _cmp(op: str, left: Any, right: Any) -> bool:
    if op in ("=",):
        return bool(left == right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _compare(op: str, have: Any, value: Any, equal: Callable[[Any, Any], bool]) -> bool:
    """`have` (None: unset) against the condition's value; negative ops negate the positive."""
    negative = {"!=": "=", "not_in": "in", "not_set": "is_set"}
    if op in negative:
        return not _compare(negative[op], have, value, equal)
    if op == "is_set":
        return have is not None
    if have is None:
        return False
    if op == "=":
        return equal(have, value)
    if op == "in":
        return any(equal(have, v) for v in value)
    if op == "between":
        lo, hi = value
        return (lo is None or have >= lo) and (hi is None or have <= hi)
    return _cmp(op, have, value)


def _plain_equal(have: Any, value: Any) -> bool:
    return bool(have == value)


def _json_equal(have: Any, value: Any) -> bool:
    """As filters compare: a JSON string of that text, or a JSON number/boolean equal to it."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if isinstance(have, bool):
        return text.lower() in ("true", "false") and have == (text.lower() == "true")
    if isinstance(have, int | float):
        try:
            return float(text) == float(have)
        except ValueError:
            return False
    return bool(have == text)


def _days_to_dates(op: str, value: Any, today: date) -> tuple[str, Any]:
    """A comparison on days ago as one on dates."""

    def back(n: Any) -> Any:
        return None if n is None else today - timedelta(days=n)

    if op == "between":
        lo, hi = value
        return op, [back(hi), back(lo)]
    if op in ("in", "not_in"):
        return op, [back(n) for n in value]
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
    return flip.get(op, op), back(value)


def _dates(value: Any) -> Any:
    if isinstance(value, list):
        return [None if v is None else date.fromisoformat(v) for v in value]
    return None if value is None else date.fromisoformat(value)


def _day_condition(op: str, value: Any, day: date | None, today: date) -> bool:
    items = value if isinstance(value, list) else [value]
    if any(isinstance(v, int) and not isinstance(v, bool) for v in items):
        op2, value2 = _days_to_dates(op, value, today)
        if day is not None and day > today:
            day = None  # after today: no number of days ago (matched as a missing value)
        return _compare(op2, day, value2, _plain_equal)
    return _compare(op, day, _dates(value) if value is not None else None, _plain_equal)


class Reference:
    def __init__(self, pw: ProfileWorld, today: date):
        self.pw = pw
        self.today = today
        tz = pw.world.tz
        ev = pw.world.events
        end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        self.events = ev[ev["ts"].map(lambda t: t < end)]
        self.by_user: dict[str, list[dict[str, Any]]] = {}
        for row in self.events.to_dict("records"):
            self.by_user.setdefault(row["uid"], []).append(row)

    def matches(self, rule: dict[str, Any]) -> set[str]:
        return {uid for uid in self.pw.universe if self.holds(rule, uid)}

    def holds(self, rule: dict[str, Any], uid: str) -> bool:
        if "all" in rule:
            return all(self.holds(r, uid) for r in rule["all"])
        if "any" in rule:
            return any(self.holds(r, uid) for r in rule["any"])
        if "not" in rule:
            return not self.holds(rule["not"], uid)
        if "segment" in rule:
            return uid in self.pw.segments.get(rule["segment"], set())
        if "trait" in rule:
            return self.trait(rule, uid)
        if "tag" in rule:
            return self.tag(rule, uid)
        return self.event(rule, uid)

    def trait(self, rule: dict[str, Any], uid: str) -> bool:
        traits = self.pw.world.users.get(uid, {})
        name, op, value = rule["trait"], rule["op"], rule.get("value")
        if name == "user_id":
            return _compare(op, uid, value, _plain_equal)
        if name.startswith("traits."):
            key = name[len("traits.") :]
            have = traits.get(key)
            have = None if _missing(have) else have
            if op in ("<", "<=", ">", ">=", "between"):
                number = (
                    have if isinstance(have, int | float) and not isinstance(have, bool) else None
                )
                return _compare(op, number, value, _plain_equal)
            return _compare(op, have, value, _json_equal)
        if name in ("birthday", "age"):
            raw = traits.get("birthday")
            birthday = None if _missing(raw) else date.fromisoformat(raw)
            if name == "birthday":
                return _day_condition(op, value, birthday, self.today)
            age = None if birthday is None else _age(birthday, self.today)
            return _compare(op, age, value, _plain_equal)
        if name == "created_at":
            created = traits.get("created_at")
            day = None if created is None else created.astimezone(self.pw.world.tz).date()
            return _day_condition(op, value, day, self.today)
        have = traits.get(name)
        return _compare(op, None if _missing(have) else have, value, _plain_equal)

    def tag(self, rule: dict[str, Any], uid: str) -> bool:
        row = self.pw.tags.get(rule["tag"], {}).get(uid)
        op, value = rule["op"], rule.get("value")
        items = value if isinstance(value, list) else [value]
        numeric = any(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
        if op in ("is_set", "not_set"):
            return _compare(op, row, None, _plain_equal)
        if numeric:
            have = None if row is None else row[1]
            wanted = (
                [None if v is None else float(v) for v in items]
                if isinstance(value, list)
                else float(value)
            )
            return _compare(op, have, wanted, _plain_equal)

        def text(v: Any) -> Any:
            if isinstance(v, bool):
                return "true" if v else "false"
            return v

        wanted = [text(v) for v in value] if isinstance(value, list) else text(value)
        return _compare(op, None if row is None else row[0], wanted, _plain_equal)

    def event(self, rule: dict[str, Any], uid: str) -> bool:
        mine = [r for r in self.by_user.get(uid, []) if r["event"] == rule["event"]]
        if "within_days" in rule:
            first = self.today - timedelta(days=rule["within_days"] - 1)
            mine = [r for r in mine if r["day"] >= first]
        for condition in rule.get("where", []):
            mine = [r for r in mine if self.prop_ok(r, condition)]
        measure = rule.get("measure", "count")
        op, value = rule.get("op", ">="), rule.get("value", 1)
        if measure == "count":
            return _compare(op, len(mine), value, _plain_equal)
        if measure in ("first_time", "last_time"):
            days = sorted(r["day"] for r in mine)
            day = None if not days else (days[0] if measure == "first_time" else days[-1])
            return _day_condition(op, value, day, self.today)
        numbers = [n for n in (self.number(r, rule["property"]) for r in mine) if n is not None]
        if measure == "sum":
            have: float | None = float(sum(numbers)) if numbers else 0.0
        elif not numbers:
            have = None
        elif measure == "avg":
            have = sum(numbers) / len(numbers)
        elif measure == "max":
            have = max(numbers)
        else:
            have = min(numbers)
        wanted = (
            [None if v is None else float(v) for v in value]
            if isinstance(value, list)
            else (None if value is None else float(value))
        )
        return _compare(op, have, wanted, _plain_equal)

    @staticmethod
    def number(row: Any, prop: str) -> float | None:
        if prop == "revenue":
            revenue = row["revenue"]
            return None if _missing(revenue) else float(Decimal(revenue))
        raw = row["props"].get(prop)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        return None

    def prop_ok(self, row: Any, condition: dict[str, Any]) -> bool:
        op, value, prop = condition["op"], condition.get("value"), condition["property"]
        if prop == "revenue":
            have = self.number(row, "revenue")
            if op in ("=", "!=", "in", "not_in"):
                items = value if isinstance(value, list) else [value]
                numbers = []
                for v in items:
                    try:
                        if not isinstance(v, bool):
                            numbers.append(float(v))
                    except ValueError:
                        pass
                hit = have is not None and have in numbers
                return hit if op in ("=", "in") else not hit
            return _compare(op, have, value, _plain_equal)
        raw = row["props"].get(prop)
        if op in ("<", "<=", ">", ">=", "between"):
            number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
            return _compare(op, number, value, _plain_equal)
        return _compare(op, raw, value, _json_equal)


_REFERENCES: dict[tuple[int, date], Reference] = {}


def reference(pw: ProfileWorld, rule: dict[str, Any], today: date = TODAY) -> set[str]:
    key = (id(pw), today)
    if key not in _REFERENCES:
        _REFERENCES[key] = Reference(pw, today)
    return _REFERENCES[key].matches(rule)


def frame(pw: ProfileWorld) -> pd.DataFrame:
    return pw.world.events


# --- the application database -------------------------------------------------------------------


def add_tag(
    engine: Any,
    code: str,
    *,
    kind: str = "computed",
    value_type: str = "enum",
    definition: Any = None,
) -> None:
    """A tag definition (and its category), as the taxonomy would hold it."""
    from sqlalchemy import select

    from userops.store.db import session_scope
    from userops.store.models import TagCategory, TagDefinition

    with session_scope(engine) as session:
        category = session.scalar(select(TagCategory).where(TagCategory.code == "test"))
        if category is None:
            category = TagCategory(code="test", name="测试")
            session.add(category)
            session.flush()
        session.add(
            TagDefinition(
                code=code,
                name=code,
                category_id=category.id,
                value_type=value_type,
                kind=kind,
                definition=definition or {},
            )
        )


def zone_world(request: Any, tmp_path_factory: Any, zone: str = "Asia/Shanghai") -> ProfileWorld:
    seed = dict(ZONES)[zone]
    return loaded(zone, seed, lambda: tmp_path_factory.mktemp(f"profiles-{seed}"))
