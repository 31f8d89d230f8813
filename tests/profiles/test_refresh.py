"""Refreshing tags: every built-in tag written equals the pandas reference, snapshots equal the
values, a second run skips what did not change and changes nothing, new data or parameters
recompute exactly the tags they touch, a failing tag leaves the others and its own old values,
Ctrl-C leaves every tag whole, member tags come from the growth system, rule tags and dynamic
segments follow the computed tags."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.profiles import reference as ref
from tests.profiles.conftest import Refreshable
from tests.profiles.tag_data import TODAY, frames
from userops.domain.audience import parse_rule
from userops.errors import ConflictError, InputError
from userops.ingest.pipeline import import_files
from userops.membership import points
from userops.membership.tags import member_tags
from userops.profiles import computed, livecount, refresh, segments, tagvalues, taxonomy
from userops.store.db import session_scope
from userops.store.models import RefreshRun, TagDefinition
from userops.warehouse.connection import Warehouse

BUILTIN_WAREHOUSE_TAGS = [
    "rfm_group",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "lifecycle_stage",
    "value_grade",
    "intent_level",
    "activity_level",
    "member_join_path",
    "member_invites",
    "member_invitees",
    "member_self_propagation",
]


def _run(fresh: Refreshable, wh: Warehouse, day: date = TODAY, **kw: Any) -> refresh.RunInfo:
    return refresh.refresh_tags(
        fresh.engine, lambda: refresh.lend(wh), today=day, tz=fresh.settings.tz, **kw
    )


def _values(wh: Warehouse, tag: str) -> dict[str, tuple[str, float | None]]:
    rows = wh.sql("SELECT user_id, value, number FROM tag_values WHERE tag = ?", [tag])
    return {u: (v, n) for u, v, n in rows}


def _snapshot(wh: Warehouse, tag: str, day: date) -> dict[str, tuple[str, float | None]]:
    rows = tagvalues.snapshot(wh, tag, day).to_pyarrow().to_pylist()
    return {r["user_id"]: (r["value"], r["number"]) for r in rows}


def _default_params() -> dict[str, dict[str, Any]]:
    return {m: computed.parse_params(m, None) for m in ("rfm", "lifecycle", "grade", "intent",
                                                       "activity")}  # fmt: skip


def test_refresh_writes_every_builtin_tag_as_the_reference(fresh: Refreshable) -> None:
    expected = ref.builtin_tags(fresh.world.frames, _default_params())
    seen: list[tuple[int, int, str, str]] = []
    with fresh.warehouse() as wh:
        run = _run(fresh, wh, progress=lambda *step: seen.append(step))
        assert run.status == "succeeded", run.error
        for tag in BUILTIN_WAREHOUSE_TAGS:
            got = _values(wh, tag)
            assert got == ref.as_dict(expected[tag]), tag
            assert _snapshot(wh, tag, TODAY) == got, tag
        stamps = wh.sql(
            "SELECT tag, count(DISTINCT refreshed_at), min(refreshed_at) FROM tag_values "
            "GROUP BY tag ORDER BY 3"
        )
    # each tag's values carry the time of its write: one per tag, in the order written
    assert all(n == 1 for _, n, _ in stamps)
    tagged = {tag for tag, _, _ in stamps}
    assert [t for t, _, _ in stamps] == [t for _, _, t, _ in seen if t in tagged]
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][1] == len(seen) and seen[-1][2] == refresh.SEGMENTS_STEP
    info = taxonomy.get_tag(fresh.engine, "lifecycle_stage")
    assert info.tagged_users == len(expected["lifecycle_stage"])
    assert info.refreshed_at is not None
    written = {tag: at for tag, _, at in stamps}["lifecycle_stage"]
    assert info.refreshed_at.timestamp() == written.timestamp()
    data = run.as_json()
    assert data["failed"] == 0 and data["refreshed"] == len(taxonomy.BUILTIN_TAGS)


def test_second_run_skips_everything_and_force_rewrites_nothing_unchanged(
    fresh: Refreshable,
) -> None:
    with fresh.warehouse() as wh:
        first = _run(fresh, wh)
        before = {t: _values(wh, t) for t in BUILTIN_WAREHOUSE_TAGS}
        times = wh.sql("SELECT DISTINCT refreshed_at FROM tag_values ORDER BY 1")
        second = _run(fresh, wh)
        assert second.count("skipped") == len(taxonomy.BUILTIN_TAGS)
        assert second.count("refreshed") == 0 and second.status == "succeeded"
        assert wh.sql("SELECT DISTINCT refreshed_at FROM tag_values ORDER BY 1") == times
        forced = _run(fresh, wh, force=True)
        assert forced.count("refreshed") == len(taxonomy.BUILTIN_TAGS)
        assert {t: _values(wh, t) for t in BUILTIN_WAREHOUSE_TAGS} == before
        # the same values again: no row rewritten (each keeps the refresh that set it)...
        assert wh.sql("SELECT DISTINCT refreshed_at FROM tag_values ORDER BY 1") == times
        with session_scope(fresh.engine, read_only=True) as session:  # ...the tags refreshed
            stamps = {t.refreshed_at for t in session.scalars(select(TagDefinition))}
        assert first.finished_at is not None
        assert all(at is not None and at > first.finished_at for at in stamps)
        # the same day three times: one snapshot day per tag, nothing in the history yet
        days = wh.sql("SELECT tag, count(*), max(users) FROM tag_snapshot_days GROUP BY tag")
        assert all(n == 1 and users == len(before[tag]) for tag, n, users in days if
                   tag in before)  # fmt: skip
        assert wh.sql("SELECT count(*) FROM tag_changes") == [(0,)]
    assert first.id < second.id < forced.id


def test_new_data_and_new_parameters_recompute_what_they_touch(
    fresh: Refreshable, tmp_path: Path
) -> None:
    with fresh.warehouse() as wh:
        _run(fresh, wh)
        taxonomy.set_params(fresh.engine, code="rfm_group", params={"lookback_days": 30})
        run = _run(fresh, wh)
        changed = {c for c, o in run.detail["tags"].items() if o["status"] == "refreshed"}
        assert changed == {"rfm_group", "rfm_r", "rfm_f", "rfm_m"}
        params = {**_default_params(), "rfm": computed.parse_params("rfm", {"lookback_days": 30})}
        expected = ref.builtin_tags(fresh.world.frames, params)
        assert _values(wh, "rfm_group") == ref.as_dict(expected["rfm_group"])
        # one more purchase, by a user nobody knew: every warehouse tag is recomputed
        extra = tmp_path / "more.csv"
        extra.write_text(
            "message_id,type,event,user_id,timestamp,properties\n"
            f'late-1,track,purchase,newcomer,{TODAY}T10:00:00+08:00,"{{""revenue"": ""88.00""}}"\n'
        )
        import_files(wh, "events", [extra], quarantine_dir=tmp_path / "q")
        run = _run(fresh, wh)
        changed = {c for c, o in run.detail["tags"].items() if o["status"] == "refreshed"}
        assert set(BUILTIN_WAREHOUSE_TAGS) <= changed
        assert _values(wh, "lifecycle_stage")["newcomer"] == ("growth", None)


def test_next_day_adds_a_snapshot_and_keeps_the_first(fresh: Refreshable) -> None:
    day1, day2 = TODAY - timedelta(days=45), TODAY
    with fresh.warehouse() as wh:
        _run(fresh, wh, day=day1)
        _run(fresh, wh, day=day2)
        days = wh.sql("SELECT DISTINCT snapshot_date FROM tag_snapshot_days ORDER BY 1")
        assert days == [(day1,), (day2,)]
        old = ref.builtin_tags(frames(fresh.world.raw, day1), _default_params())
        assert _snapshot(wh, "lifecycle_stage", day1) == ref.as_dict(old["lifecycle_stage"])
        assert _values(wh, "lifecycle_stage") == _snapshot(wh, "lifecycle_stage", day2)


def test_a_failing_tag_keeps_its_values_and_the_others_go_on(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        _run(fresh, wh)
        before = _values(wh, "rfm_r")
        with session_scope(fresh.engine) as session:
            tag = session.scalar(select(TagDefinition).where(TagDefinition.code == "rfm_r"))
            assert tag is not None
            tag.definition = {**tag.definition, "params_from": "gone"}
        run = _run(fresh, wh, force=True)
        assert run.status == "failed"
        assert run.detail["tags"]["rfm_r"]["status"] == "failed"
        assert "'gone'" in run.detail["tags"]["rfm_r"]["error"] and "rfm_r" in (run.error or "")
        assert run.count("refreshed") == len(taxonomy.BUILTIN_TAGS) - 1
        assert _values(wh, "rfm_r") == before


def test_ctrl_c_leaves_every_tag_whole_and_the_run_interrupted(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        _run(fresh, wh, day=TODAY - timedelta(days=60))
        old = {t: _values(wh, t) for t in BUILTIN_WAREHOUSE_TAGS}

        def stop_after_three(done: int, total: int, code: str, status: str) -> None:
            if done == 3:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            _run(fresh, wh, progress=stop_after_three)
        runs = refresh.list_runs(fresh.engine)
        assert runs[0].status == "interrupted" and runs[0].count("refreshed") == 3
        new = ref.builtin_tags(fresh.world.frames, _default_params())
        for tag in BUILTIN_WAREHOUSE_TAGS:
            got = _values(wh, tag)
            assert got in (old[tag], ref.as_dict(new[tag])), tag
        assert wh.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_uo_%'") == [
            (0,)
        ]
        done = _run(fresh, wh)
        assert done.status == "succeeded" and done.count("skipped") == 3
        for tag in BUILTIN_WAREHOUSE_TAGS:
            assert _values(wh, tag) == ref.as_dict(new[tag])


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(fresh: Refreshable) -> None:
    with session_scope(fresh.engine) as session:
        session.add(RefreshRun(status="running", snapshot_date=TODAY, trigger="cli", detail={}))
    with fresh.warehouse() as wh:
        _run(fresh, wh, tags=["intent_level"])
    statuses = [r.status for r in refresh.list_runs(fresh.engine)]
    assert statuses == ["succeeded", "interrupted"]


def test_chosen_tags_only_and_refusals(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        run = _run(fresh, wh, tags=["intent_level", "rfm_m"])
        assert set(run.detail["tags"]) == {"intent_level", "rfm_m"}
        assert run.detail.get("segments") is None
        assert wh.sql("SELECT DISTINCT tag FROM tag_values ORDER BY 1") == [
            ("intent_level",),
            ("rfm_m",),
        ]
        with pytest.raises(InputError, match="no tag 'nope'"):
            _run(fresh, wh, tags=["nope"])
        # A day after today would become the tags' latest snapshot and freeze their values.
        tomorrow = datetime.now(fresh.settings.tz).date() + timedelta(days=1)
        with pytest.raises(InputError, match=f"as of {tomorrow}: it is after today"):
            _run(fresh, wh, tomorrow, tags=["rfm_m"])
    assert len(refresh.list_runs(fresh.engine)) == 1


def test_member_tags_come_from_the_growth_system(fresh: Refreshable) -> None:
    at = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    for user, amount in (("u001", 10), ("u002", 20)):
        points.award(fresh.engine, user_id=user, amount=amount, key=f"k-{user}", at=at)
    with fresh.warehouse() as wh:
        _run(fresh, wh)
        expected = {r["user_id"]: r for r in member_tags(fresh.engine, at=datetime.now(UTC))}
        got = _values(wh, "member_loyalty")
        assert got == {u: (r["loyalty"], None) for u, r in expected.items()}
        assert got["u001"] == ("regular", None)
        participation = _values(wh, "member_participation")
        assert participation == {u: ("0", 0.0) for u in expected}
        # the warehouse member tags agree with membership.tags where both tag a user
        # (as of D: a user who signed up after D is left out here, not in member_tags)
        known = ref.known_users(fresh.world.frames, ref.resolved(fresh.world.frames)).index
        full = {r["user_id"]: r for r in member_tags(fresh.engine, wh) if r["user_id"] in known}
        paths = _values(wh, "member_join_path")
        assert len(paths) > 50
        for user, row in full.items():
            if row.get("join_path") is not None:
                assert paths[user] == (row["join_path"], None)
            if user in paths or row.get("invites"):
                assert _values(wh, "member_invites")[user][1] == row["invites"]
                assert _values(wh, "member_self_propagation")[user][0] == row["self_propagation"]
        second = _run(fresh, wh)
        assert second.detail["tags"]["member_loyalty"]["status"] == "skipped"
        points.award(fresh.engine, user_id="u003", amount=5, key="k-u003", at=at)
        third = _run(fresh, wh)
        assert third.detail["tags"]["member_loyalty"]["status"] == "refreshed"
        assert third.detail["tags"]["rfm_group"]["status"] == "skipped"


def test_rule_tags_and_segments_follow_the_computed_tags(fresh: Refreshable) -> None:
    taxonomy.create_tag(
        fresh.engine,
        code="growing_buyer",
        name="成长期买家",
        category="lifecycle",
        value_type="boolean",
        kind="rule",
        definition={"when": {"tag": "lifecycle_stage", "op": "=", "value": "growth"}},
    )
    with fresh.warehouse() as wh:
        segments.create_segment(
            fresh.engine,
            wh,
            code="champions",
            name="重要价值",
            rule={"tag": "rfm_group", "op": "=", "value": "important_value"},
            actor="test",
            today=TODAY,
        )
        run = _run(fresh, wh)
        order = list(run.detail["tags"])
        assert order.index("growing_buyer") > order.index("lifecycle_stage")
        growth = {u for u, (v, _) in _values(wh, "lifecycle_stage").items() if v == "growth"}
        assert growth and _values(wh, "growing_buyer") == {u: ("true", None) for u in growth}
        champions = {u for u, (v, _) in _values(wh, "rfm_group").items() if v == "important_value"}
        assert run.detail["segments"] == {"champions": len(champions)}
        assert _run(fresh, wh).detail["tags"]["growing_buyer"]["status"] == "skipped"
        taxonomy.set_params(fresh.engine, code="lifecycle_stage", params={"mature_orders": 2})
        again = _run(fresh, wh)
        assert again.detail["tags"]["growing_buyer"]["status"] == "refreshed"
    with pytest.raises(InputError, match="boolean values, not enum"):
        taxonomy.create_tag(
            fresh.engine,
            code="bad_rule",
            name="x",
            category="lifecycle",
            value_type="enum",
            kind="rule",
            definition={"when": {"tag": "lifecycle_stage", "op": "=", "value": "growth"}},
        )


def test_a_busy_process_refuses_a_second_refresh(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        results: list[Any] = []

        def nested(done: int, total: int, code: str, status: str) -> None:
            if done == 1:
                with pytest.raises(ConflictError, match="already running"):
                    _run(fresh, wh)
                results.append("refused")

        _run(fresh, wh, tags=["intent_level"], progress=nested)
    assert results == ["refused"]


def test_models_written_straight_from_the_facts_match_staged_ones(
    fresh: Refreshable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models over the run's facts are read straight into the comparison with the current
    values (no staged copy); staged, they give the same rows. A model whose parameters are
    wrong fails on its own either way."""
    with session_scope(fresh.engine) as session:
        tag = session.scalar(select(TagDefinition).where(TagDefinition.code == "value_grade"))
        assert tag is not None
        tag.definition = {**tag.definition, "params": {"shares": [1, 2, 3]}}
    expected = ref.builtin_tags(fresh.world.frames, _default_params())
    how: dict[str, tuple[bool, bool]] = {}  # tag -> (unique, direct)
    write = tagvalues.replace_values

    def spy(wh: Warehouse, tag: str, rows: Any, **kw: Any) -> tagvalues.Written:
        how[tag] = (kw.get("unique", False), kw.get("direct", False))
        return write(wh, tag, rows, **kw)

    monkeypatch.setattr(refresh.tagvalues, "replace_values", spy)
    checked = [t for t in BUILTIN_WAREHOUSE_TAGS if t != "value_grade"]
    with fresh.warehouse() as wh:
        direct = _run(fresh, wh)
        assert direct.detail["tags"]["value_grade"]["status"] == "failed"
        assert "'shares'" in direct.detail["tags"]["value_grade"]["error"]
        straight = {t: _values(wh, t) for t in checked}
        assert {t for t, (_, d) in how.items() if d} == set(checked) - {"member_join_path"}
        assert how["member_join_path"] == (True, False)  # one row per user: not counted
        for code in checked:
            tagvalues.drop_tag(wh, code)
        how.clear()
        monkeypatch.setattr(refresh, "_over_facts", lambda _: False)
        staged = _run(fresh, wh, force=True)
        assert staged.count("refreshed") == len(taxonomy.BUILTIN_TAGS) - 1
        assert not any(d for _, d in how.values())
        for code, values in straight.items():
            assert _values(wh, code) == values == ref.as_dict(expected[code]), code


def test_a_live_count_taken_during_a_run_sees_the_later_writes(
    fresh: Refreshable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live count that loads a tag's values between two tags of one run sees what the later
    tag writes, even when its count of values stays the same: each write is stamped after
    every value before it, so the values' state changes with every write that changes one."""
    churned = parse_rule({"tag": "lifecycle_stage", "op": "=", "value": "churn"})
    first, later = TODAY + timedelta(days=1), TODAY + timedelta(days=120)  # no signup between
    monkeypatch.setattr(refresh, "today_in", lambda tz: later)  # the clock, 120 days on
    codes = ["activity_level", "lifecycle_stage"]
    with fresh.warehouse() as wh:
        _run(fresh, wh, first, tags=codes)
        before = _values(wh, "lifecycle_stage")
        taken: list[str] = []

        def progress(done: int, total: int, code: str, status: str) -> None:
            if code == "activity_level":  # written first: the live count loads the old stages
                chosen = livecount.select(wh, churned, today=later)
                assert chosen is not None
                taken.append(code)

        _run(fresh, wh, later, tags=codes, progress=progress)
        assert taken == ["activity_level"]
        after = _values(wh, "lifecycle_stage")
        assert len(after) == len(before) and after != before  # the case a count cannot tell
        chosen = livecount.select(wh, churned, today=later)
        assert chosen is not None
        assert set(chosen.ids().to_pylist()) == {u for u, (v, _) in after.items() if v == "churn"}


def test_the_server_refreshes_tags_daily(fresh: Refreshable, tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from userops.services import tag_jobs
    from userops.services.runtime import Runtime
    from userops.services.schedule import DailyScheduler

    settings = fresh.settings.model_copy(update={"tags_refresh_at": "03:30"})
    runtime = Runtime(settings)
    try:
        tz = ZoneInfo(settings.timezone)
        scheduler = DailyScheduler(tz=tz, state=tmp_path / "scheduler.json")
        tag_jobs.register(scheduler, runtime)
        assert [(j.name, j.at.isoformat()) for j in scheduler.jobs] == [
            ("tags.refresh", "03:30:00")
        ]
        early = datetime.combine(TODAY, datetime.min.time(), tzinfo=tz) + timedelta(hours=3)
        assert scheduler.run_pending(early) == []
        ran = scheduler.run_pending(early + timedelta(minutes=31))
        assert [r.ok for r in ran] == [True] and ran[0].result["status"] == "succeeded"
        assert scheduler.run_pending(early + timedelta(hours=5)) == []  # once a day
        run = refresh.list_runs(runtime.engine)[0]
        assert run.trigger == "schedule" and run.snapshot_date == TODAY
        off = DailyScheduler(tz=tz, state=tmp_path / "off.json")
        runtime.settings = settings.model_copy(update={"tags_refresh_at": "off"})
        tag_jobs.register(off, runtime)
        assert off.jobs == ()
    finally:
        runtime.close()
    with pytest.raises(ValueError, match="USEROPS_TAGS_REFRESH_AT"):
        type(settings)(data_dir=tmp_path, tags_refresh_at="3 am")


def test_manual_and_switched_off_tags_refresh_only_when_named(fresh: Refreshable) -> None:
    taxonomy.update_tag(fresh.engine, code="intent_level", schedule="manual")
    taxonomy.update_tag(fresh.engine, code="activity_level", is_active=False)
    with fresh.warehouse() as wh:
        everything = _run(fresh, wh)
        assert {"intent_level", "activity_level"}.isdisjoint(everything.detail["tags"])
        assert wh.sql("SELECT count(*) FROM tag_values WHERE tag = 'intent_level'") == [(0,)]
        named = _run(fresh, wh, tags=["intent_level", "activity_level"])
        assert named.count("refreshed") == 2
