"""The live count (profiles/livecount.py, on the population in memory) against the compiled
rules it stands in for, on the same warehouses.

Every rule of the conditions table, more rules aimed at the boundaries (days ago, ages, text
order of tag values, empty and full results, deep `not`/`any` nesting), Hypothesis-generated
rules, and several `today`s (events at local midnight, a daylight-saving change in Los
Angeles) must select exactly the users the compiled rule selects; previews must give the same
count and sample whichever way they ran. The population must notice every write it depends on
(new events, a new identity link, users, tag values, segment members), and editing one
condition must re-evaluate that condition only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from tests.profiles.segment_data import (
    HOSTILE,
    RFM,
    TODAY,
    ZONES,
    ProfileWorld,
    build,
    loaded,
    reference,
)
from tests.profiles.test_conditions import RULES, generated
from userops.analytics import eventindex
from userops.domain.audience import parse_rule
from userops.ingest.pipeline import import_files
from userops.profiles import livecount, population, segments, tagvalues
from userops.profiles.conditions import audience


@pytest.fixture(scope="module", params=ZONES, ids=[z for z, _ in ZONES])
def pw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ProfileWorld:
    zone, seed = request.param
    folder: Callable[[], Path] = lambda: tmp_path_factory.mktemp(f"profiles-{seed}")  # noqa: E731
    return loaded(zone, seed, folder)


def compiled(pw: ProfileWorld, doc: dict[str, Any], today: date = TODAY) -> set[str]:
    ids = audience(pw.wh, parse_rule(doc), today=today).to_pyarrow()["user_id"].to_pylist()
    return set(ids)


def fast(pw: ProfileWorld, doc: dict[str, Any], today: date = TODAY) -> set[str]:
    chosen = livecount.select(pw.wh, parse_rule(doc), today=today)
    assert chosen is not None, "the live count runs on a DuckDB warehouse"
    ids = chosen.ids().to_pylist()
    assert len(ids) == len(set(ids)) == chosen.count
    return set(ids)


def _no_compiled_parts(*_args: Any, **_kw: Any) -> Any:
    raise AssertionError("the live count ran a compiled condition")


BUYS = {"event": "purchase", "within_days": 30, "op": ">=", "value": 2}
MORE_RULES: list[dict[str, Any]] = [
    {"trait": "user_id", "op": "not_in", "value": ["u1", "v3", HOSTILE[1]]},
    {"trait": "user_id", "op": "=", "value": "nobody"},
    {"trait": "city", "op": "in", "value": HOSTILE},
    {"trait": "occupation", "op": "not_set"},
    {"trait": "birthday", "op": "=", "value": "1996-02-29"},
    {"trait": "birthday", "op": "between", "value": [None, "1975-06-30"]},
    {"trait": "birthday", "op": "not_in", "value": ["2000-11-20"]},
    {"trait": "age", "op": "in", "value": [0, 25, 26, 150]},
    {"trait": "age", "op": "<", "value": 0},
    {"trait": "age", "op": "between", "value": [30, None]},
    {"trait": "created_at", "op": "between", "value": [None, 0]},
    {"trait": "created_at", "op": "in", "value": [0, 1, 2, 50]},
    {"trait": "created_at", "op": "!=", "value": 3},
    {"trait": "created_at", "op": "not_set"},
    {"trait": "created_at", "op": "<", "value": "2026-10-10"},
    {"tag": "rfm_group", "op": ">", "value": "一般发展"},
    {"tag": "rfm_group", "op": "between", "value": ["it's fine", "重要价值"]},
    {"tag": "rfm_group", "op": "in", "value": RFM},
    {"tag": "score", "op": "between", "value": [None, 10]},
    {"tag": "score", "op": "not_in", "value": [0, -3]},
    {"tag": "score", "op": "<", "value": 0},
    {"tag": "vip", "op": "!=", "value": True},
    {"tag": "first_buy", "op": "between", "value": ["2026-10-01", "2026-10-31"]},
    {"tag": "first_buy", "op": "is_set"},
    {"event": "purchase", "within_days": 1},
    {"event": "app_open", "within_days": 2, "op": "not_in", "value": [0, 2]},
    {"event": "view_item", "op": "!=", "value": 1},
    {"event": "view_item", "within_days": 3660, "op": ">", "value": 3},
    {"event": "purchase", "measure": "first_time", "op": "in", "value": [5, 6, 7, 40]},
    {"event": "purchase", "measure": "last_time", "op": "=", "value": 0},
    {"event": "app_open", "measure": "last_time", "op": "between", "value": [None, 1]},
    {"event": "app_open", "measure": "first_time", "op": "!=", "value": "2026-10-05"},
    {"event": "app_open", "measure": "first_time", "within_days": 10, "op": "is_set"},
    {"event": "view_item", "measure": "last_time", "within_days": 20, "op": "not_set"},
    {"event": "never_happens", "measure": "last_time", "op": "not_set"},
    {"event": "purchase", "op": ">=", "value": 1000},
    {"not": {"event": "never_happens"}},
    {"any": [{"not": {"trait": "city", "op": "is_set"}}, {"not": {"tag": "vip", "op": "is_set"}}]},
    {
        "not": {
            "any": [
                {"all": [{"trait": "channel", "op": "=", "value": "social"}, {"not": BUYS}]},
                {
                    "not": {
                        "any": [{"tag": "score", "op": ">", "value": 50}, {"segment": "seg_static"}]
                    }
                },
            ]
        }
    },
    {"all": [{"event": "purchase"}, {"not": {"event": "purchase"}}]},
]
ALL_RULES = RULES + MORE_RULES

# Conditions the population answers by itself (no compiled SQL): traits but custom ones, tags,
# behaviour without property filters or property measures.
COVERED = [
    d
    for d in ALL_RULES
    if "segment" not in json.dumps(d)
    and "traits." not in json.dumps(d)
    and "where" not in json.dumps(d)
    and '"property"' not in json.dumps(d)
]


@pytest.mark.parametrize("doc", ALL_RULES, ids=lambda d: str(d)[:70])
def test_rules_match_the_compiled_rule(pw: ProfileWorld, doc: dict[str, Any]) -> None:
    assert fast(pw, doc) == compiled(pw, doc) == reference(pw, doc)


@pytest.mark.parametrize("doc", COVERED, ids=lambda d: str(d)[:70])
def test_covered_rules_run_no_compiled_condition(
    pw: ProfileWorld, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    population.forget(pw.wh)  # evaluate every condition anew
    monkeypatch.setattr(livecount, "positions_holding", _no_compiled_parts)
    monkeypatch.setattr(population, "behaviour_values", _no_compiled_parts)
    assert fast(pw, doc) == reference(pw, doc)


COUNTS = [d for d in COVERED if '"event"' in json.dumps(d) and "_time" not in json.dumps(d)]


@pytest.mark.parametrize("doc", COUNTS, ids=lambda d: str(d)[:70])
def test_counts_without_a_timeline(
    pw: ProfileWorld, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts of a name too frequent to keep in time order come from the index itself."""
    population.forget(pw.wh)
    monkeypatch.setattr(population, "TIMELINE_EVENTS", -1)
    assert fast(pw, doc) == reference(pw, doc)


TEXTS = [d for d in COVERED if '"tag"' in json.dumps(d) or '"city"' in json.dumps(d)]


@pytest.mark.parametrize("doc", TEXTS, ids=lambda d: str(d)[:70])
def test_text_without_kept_bits(
    pw: ProfileWorld, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text of a long dictionary is compared code by code, without bits kept per value."""
    population.forget(pw.wh)
    monkeypatch.setattr(population, "SHORT_DICTIONARY", -1)
    assert fast(pw, doc) == reference(pw, doc)


def test_the_table_covers_most_kinds_without_sql() -> None:
    assert len(COUNTS) >= 15 and len(TEXTS) >= 25 and len(COVERED) >= 90


@pytest.mark.parametrize("offset", [-40, -20, -12, -5, -1, 0, 3, 9])
def test_other_days_around_midnights(pw: ProfileWorld, offset: int) -> None:
    """Windows of one and two local days on many days: events a minute either side of
    midnight, and exactly at it, fall on the right day (Los Angeles changes its offset on
    2026-11-01, inside these days); events after `today` never count."""
    today = TODAY + timedelta(days=offset)
    docs = [
        {"event": "app_open", "within_days": 1},
        {"event": "view_item", "within_days": 2, "op": ">=", "value": 2},
        {"event": "purchase", "measure": "last_time", "op": "<=", "value": 1},
        {"event": "view_item", "measure": "first_time", "op": "=", "value": 0},
        {"trait": "created_at", "op": "<=", "value": 1},
        {"trait": "age", "op": ">=", "value": 26},
    ]
    for doc in docs:
        assert fast(pw, doc, today) == compiled(pw, doc, today), (doc, today)


def test_merged_anonymous_events_count_for_their_user(pw: ProfileWorld) -> None:
    """Anonymous browsing before login belongs to the user the id was later linked to (every
    `a` id of the data is linked), and a visitor who never logged in (`v`) is a user of their
    own."""
    views = {"event": "view_item", "within_days": 3660, "op": ">=", "value": 1}
    got = fast(pw, views)
    assert got == compiled(pw, views)
    assert not any(u.startswith("a") for u in got)
    assert any(u.startswith("v") for u in got) and any(u.startswith("u") for u in got)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=generated)
def test_generated_rules_agree(pw: ProfileWorld, doc: dict[str, Any]) -> None:
    try:
        parse_rule(doc)
    except Exception as exc:  # the depth limit is the only refusal a generated rule may meet
        assert "nest at most" in str(exc), (exc, doc)
        return
    assert fast(pw, doc) == compiled(pw, doc), doc


@pytest.mark.parametrize("sample", [0, 1, 7, 1000])
def test_previews_agree_with_the_compiled_preview(pw: ProfileWorld, sample: int) -> None:
    for doc in [
        {"trait": "user_id", "op": "is_set"},
        {"trait": "city", "op": "in", "value": HOSTILE},
        {"not": {"event": "purchase"}},
        {"event": "purchase", "op": ">=", "value": 1000},
    ]:
        quick = segments.preview(pw.wh, doc, today=TODAY, sample=sample)
        with eventindex.portable():
            assert livecount.select(pw.wh, parse_rule(doc), today=TODAY) is None
            slow = segments.preview(pw.wh, doc, today=TODAY, sample=sample)
        assert quick == slow, doc
        assert len(quick.sample) == min(sample, quick.count)


def test_hostile_values_change_nothing(pw: ProfileWorld) -> None:
    for value in HOSTILE:
        doc = {
            "all": [
                {"trait": "city", "op": "=", "value": value},
                {"tag": "rfm_group", "op": "!=", "value": value},
            ]
        }
        assert fast(pw, doc) == compiled(pw, doc)
    assert pw.wh.sql("SELECT count(*) FROM users")[0][0] == len(pw.world.users)


# --- caching and freshness -----------------------------------------------------------------------


def test_editing_one_condition_evaluates_only_it(
    pw: ProfileWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    population.forget(pw.wh)
    evaluated: list[Any] = []
    original = livecount._Evaluator._evaluate

    def spy(self: Any, condition: Any) -> Any:
        evaluated.append(condition)
        return original(self, condition)

    monkeypatch.setattr(livecount._Evaluator, "_evaluate", spy)
    rule = {
        "all": [
            {"trait": "channel", "op": "in", "value": ["social", "referral"]},
            {"tag": "rfm_group", "op": "in", "value": RFM[:2]},
            {"event": "purchase", "within_days": 30, "op": ">=", "value": 1},
        ]
    }
    first = fast(pw, rule)
    assert len(evaluated) == 3
    assert fast(pw, rule) == first and len(evaluated) == 3  # all cached
    rule["all"][2]["value"] = 2  # type: ignore[index]
    assert fast(pw, rule) == compiled(pw, rule)
    assert evaluated[3:] == [parse_rule(rule["all"][2])]  # type: ignore[index]


def test_true_and_one_are_different_conditions(pw: ProfileWorld) -> None:
    """`True == 1` in Python, not in a rule: a tag's 'true' against its number, a property's
    boolean against the number 1 (the cache must not hand one the other's users)."""
    population.forget(pw.wh)
    flag = {"property": "flag", "op": "=", "value": True}
    pairs = [
        ({"tag": "vip", "op": "=", "value": True}, {"tag": "vip", "op": "=", "value": 1}),
        (
            {"event": "view_item", "where": [flag]},
            {"event": "view_item", "where": [{**flag, "value": 1}]},
        ),
        (
            {"tag": "score", "op": "in", "value": [0, 1.5]},
            {"tag": "score", "op": "in", "value": [0.0, 1.5]},
        ),
    ]
    for first, second in pairs:
        assert fast(pw, first) == compiled(pw, first)
        assert fast(pw, second) == compiled(pw, second)
    assert compiled(pw, pairs[0][0]) != compiled(pw, pairs[0][1])
    assert compiled(pw, pairs[1][0]) != compiled(pw, pairs[1][1])


def test_many_costly_behaviours_run_as_the_compiled_rule(pw: ProfileWorld) -> None:
    """Behaviours with property filters each need a query of their own here: past
    MAX_COSTLY_MEASURES the compiled rule, which measures them in one scan, runs instead."""
    population.forget(pw.wh)
    costly = [
        {"event": "purchase", "where": [{"property": "revenue", "op": ">", "value": v}]}
        for v in range(livecount.MAX_COSTLY_MEASURES + 1)
    ]
    cheap = [{"event": "purchase", "within_days": d} for d in range(1, 10)]
    for docs, runs_here in ((costly, False), (cheap, True), (costly[:-1], True)):
        rule = parse_rule({"any": docs})
        assert (livecount.select(pw.wh, rule, today=TODAY) is not None) == runs_here
        quick = segments.preview(pw.wh, {"any": docs}, today=TODAY, sample=5)
        with eventindex.portable():
            slow = segments.preview(pw.wh, {"any": docs}, today=TODAY, sample=5)
        assert quick == slow and quick.count == len(compiled(pw, {"any": docs}))


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[ProfileWorld]:
    world = build(tmp_path / "w", "America/Los_Angeles", 12)
    yield world
    world.wh.close()


def _import_events(world: ProfileWorld, folder: Path, rows: list[dict[str, Any]]) -> None:
    """Events through the importer, as a CSV file with the columns of tests/analytics/data.py."""
    columns = ["message_id", "type", "event", "user_id", "anonymous_id", "timestamp"]
    path = folder / f"more-{rows[0]['message_id']}.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    summary = import_files(world.wh, "events", [path], quarantine_dir=folder / "q")
    assert summary.rejected == 0, summary


def test_every_write_is_seen(writable: ProfileWorld, tmp_path: Path) -> None:
    wh, today = writable.wh, TODAY
    zone = ZoneInfo(wh.timezone)
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone).astimezone(UTC)

    def both(doc: dict[str, Any]) -> set[str]:
        got = fast(writable, doc, today)
        assert got == compiled(writable, doc, today), doc
        return got

    today_buyers = {"event": "purchase", "within_days": 1}
    before = both(today_buyers)
    assert "newcomer" not in before
    # Events exactly at local midnight count for today; a microsecond before, for yesterday.
    _import_events(
        writable,
        tmp_path,
        [
            {
                "message_id": "m-new-1",
                "type": "track",
                "event": "purchase",
                "anonymous_id": "anon-new",
                "timestamp": midnight.isoformat(),
            },
            {
                "message_id": "m-new-2",
                "type": "track",
                "event": "purchase",
                "anonymous_id": "anon-late",
                "timestamp": (midnight - timedelta(microseconds=1)).isoformat(),
            },
        ],
    )
    after = both(today_buyers)
    assert after == before | {"anon-new"}
    # Linking the anonymous id moves its events to the user.
    _import_events(
        writable,
        tmp_path,
        [
            {
                "message_id": "m-new-3",
                "type": "identify",
                "user_id": "newcomer",
                "anonymous_id": "anon-new",
                "timestamp": (midnight + timedelta(hours=1)).isoformat(),
            }
        ],
    )
    assert both(today_buyers) == before | {"newcomer"}
    # A new users row, tag values replaced, segment members written.
    city = {"trait": "city", "op": "=", "value": "杭州"}
    assert both(city) == set()
    wh.sql("INSERT INTO users (user_id, city, updated_at) VALUES ('newcomer', '杭州', now())")
    assert both(city) == {"newcomer"}
    gold = {"tag": "rfm_group", "op": "=", "value": "金"}
    assert both(gold) == set()
    rows = wh.sql("SELECT user_id, value, number FROM tag_values WHERE tag = 'rfm_group'")
    values = {u: (v, n) for u, v, n in rows} | {"u1": ("金", None)}  # the same count of values
    table = pa.table(
        {
            "user_id": list(values),
            "value": [v for v, _ in values.values()],
            "number": pa.array([n for _, n in values.values()], pa.float64()),
        }
    )
    tagvalues.replace_values(wh, "rfm_group", table, snapshot_date=today, refreshed_at=midnight)
    assert both(gold) == {"u1"}
    member = {"segment": "seg_static"}
    assert "newcomer" not in both(member)
    wh.sql("INSERT INTO segment_members VALUES ('seg_static', 'newcomer', now())")
    assert "newcomer" in both(member)


def test_new_events_of_known_users_keep_the_population(
    writable: ProfileWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events of users the index knows are merged into it (no rebuild), and the population
    follows without being built again: its user columns stay, what it read from events goes."""
    wh, today = writable.wh, TODAY
    zone = ZoneInfo(wh.timezone)
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=zone).astimezone(UTC)
    doc = {"all": [{"event": "purchase", "within_days": 1}, {"trait": "city", "op": "is_set"}]}
    before = fast(writable, doc, today)
    assert before == compiled(writable, doc, today)
    index = eventindex.event_index(wh)
    assert index is not None
    known = [u for u in index.uids.to_pylist() if u not in before and not u.startswith("anon")]
    buyer = next(u for u in known if u in compiled(writable, {"trait": "city", "op": "is_set"}))
    people = population._CACHE[wh]

    def refused(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("built again")

    monkeypatch.setattr(eventindex, "build", refused)
    monkeypatch.setattr(population, "_build", refused)
    rows = [
        {
            "message_id": "m-known-1",
            "type": "track",
            "event": "purchase",
            "user_id": buyer,
            "timestamp": noon.isoformat(),
        }
    ]
    _import_events(writable, tmp_path, rows)
    after = fast(writable, doc, today)
    monkeypatch.undo()
    assert after == before | {buyer} == compiled(writable, doc, today)
    assert population._CACHE[wh] is not people  # a new population, on the merged index


def test_samples_follow_the_engines_order_of_ids(writable: ProfileWorld) -> None:
    """Ids of every script and case: the sample is the first ids as DuckDB sorts them."""
    for uid in ["张三", "Zed", "ábc", "a b", "A", "_x", "9", "Ω", "ü", "u1 "]:
        writable.wh.sql(
            "INSERT INTO users (user_id, city, updated_at) VALUES (?, '杭州', now())", [uid]
        )
    for doc in [{"trait": "city", "op": "=", "value": "杭州"}, {"not": {"event": "purchase"}}]:
        quick = segments.preview(writable.wh, doc, today=TODAY, sample=1000)
        with eventindex.portable():
            slow = segments.preview(writable.wh, doc, today=TODAY, sample=1000)
        assert quick == slow and quick.count >= 10


def test_other_engines_and_portable_mode_use_the_compiled_rule(pw: ProfileWorld) -> None:
    from userops.analytics.base import UnboundSource

    rule = parse_rule({"event": "purchase"})
    assert livecount.select(UnboundSource(), rule, today=TODAY) is None
    with eventindex.portable():
        assert livecount.select(pw.wh, rule, today=TODAY) is None


def test_saving_a_segment_uses_warm_bit_sets_and_never_builds_them(
    writable: ProfileWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment's members come from the live count when its caches are warm (the server,
    after a preview), else from the compiled rule: a one-off save never pays for a build."""
    wh = writable.wh
    doc = {"all": [BUYS, {"not": {"trait": "city", "op": "=", "value": "杭州"}}]}
    rule = parse_rule(doc)
    expected = compiled(writable, doc)
    eventindex.forget(wh)
    population.forget(wh)

    def refused(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("not this path")

    with monkeypatch.context() as cold:
        cold.setattr(eventindex, "build", refused)
        assert set(segments._audience_ids(wh, rule, TODAY).to_pylist()) == expected
    segments.preview(wh, doc, today=TODAY)  # builds the index, the population, the bits
    with monkeypatch.context() as warm:
        warm.setattr(segments, "audience", refused)
        ids = segments._audience_ids(wh, rule, TODAY).to_pylist()
    assert len(ids) == len(set(ids)) and set(ids) == expected
