"""Segments as a service: preview, dynamic and static segments (from a rule, an upload, a
funnel's drop-offs, a retention cell), references between segments, refresh, export, delete;
on SQLite and PostgreSQL, members checked against the independent reference."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select, update

from tests.profiles.segment_data import TODAY, ProfileWorld, add_tag, reference, zone_world
from userops.analytics.filters import Filters, TraitFilter
from userops.analytics.funnels import FunnelSpec, funnel
from userops.analytics.retention import retention, retention_cell_users
from userops.errors import ConflictError, InputError, NotFoundError
from userops.profiles import segments, taxonomy
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import AuditEntry, Segment


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ProfileWorld:
    return zone_world(request, tmp_path_factory)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    add_tag(engine, "rfm_group")
    add_tag(engine, "score", value_type="number")
    yield engine
    engine.dispose()


def stored(pw: ProfileWorld, code: str) -> set[str]:
    return {
        r[0] for r in pw.wh.sql("SELECT user_id FROM segment_members WHERE segment = ?", [code])
    }


BUYERS = {"event": "purchase", "within_days": 30}
RICH = {"event": "purchase", "measure": "sum", "property": "revenue", "op": ">=", "value": 300}


def test_preview_counts_and_samples(pw: ProfileWorld) -> None:
    expected = sorted(reference(pw, BUYERS))
    result = segments.preview(pw.wh, BUYERS, today=TODAY, sample=5)
    assert result.as_json() == {"count": len(expected), "sample": expected[:5]}
    assert segments.preview(pw.wh, BUYERS, today=TODAY, sample=0).as_json() == {
        "count": len(expected),
        "sample": [],
    }
    nobody = {"trait": "city", "op": "=", "value": "火星"}
    assert segments.preview(pw.wh, nobody, today=TODAY).as_json() == {"count": 0, "sample": []}
    with pytest.raises(InputError, match="sample: 0 to 1000"):
        segments.preview(pw.wh, BUYERS, today=TODAY, sample=1001)


def test_preview_refuses_unknown_references(pw: ProfileWorld, engine: Engine) -> None:
    rule = {"all": [BUYERS, {"any": [{"segment": "seg_static"}, {"tag": "nope", "op": "is_set"}]}]}
    with pytest.raises(InputError, match=r"^rule\.all\[1\]\.any\[0\]\.segment: unknown segment"):
        segments.preview(pw.wh, rule, today=TODAY, engine=engine)
    rule["all"][1]["any"][0] = {"tag": "rfm_group", "op": "is_set"}  # type: ignore[index]
    with pytest.raises(InputError, match=r"^rule\.all\[1\]\.any\[1\]\.tag: unknown tag 'nope'"):
        segments.preview(pw.wh, rule, today=TODAY, engine=engine)
    # JSON of another shape than an object (a CLI reads any file) is named, never run.
    for shape, name in [([1], "a list"), ("str", "a string"), (5, "a number"), (None, "null")]:
        with pytest.raises(InputError, match=f"^rule: a condition is a JSON object, not {name}"):
            segments.preview(pw.wh, shape, today=TODAY)
    for day in (date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(
            InputError,
            match=f"^today {day.isoformat()} is out of range \\(1970-01-01 to 2200-12-31\\)",
        ):
            segments.preview(pw.wh, {"event": "purchase", "within_days": 3660}, today=day)


def test_segment_lifecycle(pw: ProfileWorld, engine: Engine, db_url: str) -> None:
    suffix = "pg" if db_url.startswith("postgresql") else "lite"
    buyers, rich, frozen = f"buyers_{suffix}", f"rich_{suffix}", f"frozen_{suffix}"
    made = segments.create_segment(
        engine, pw.wh, code=buyers, name="近30天购买", rule=BUYERS, actor="ann", today=TODAY
    )
    assert made.kind == "dynamic" and made.rule == BUYERS and made.owner == "ann"
    assert made.size == len(reference(pw, BUYERS)) and stored(pw, buyers) == reference(pw, BUYERS)

    # A static segment freezes today's audience; a dynamic one reads another's members.
    segments.create_segment(
        engine, pw.wh, code=frozen, name="冻结", rule=RICH, static=True, actor="ann", today=TODAY
    )
    both = {"all": [{"segment": buyers}, {"tag": "score", "op": ">", "value": 5}]}
    made = segments.create_segment(
        engine, pw.wh, code=rich, name="高价值", rule=both, actor="ann", today=TODAY
    )
    expected = reference(pw, BUYERS) & reference(pw, {"tag": "score", "op": ">", "value": 5})
    assert stored(pw, rich) == expected and made.size == len(expected)

    with pytest.raises(ConflictError, match=f"segment '{buyers.upper()}' already exists \\(as"):
        segments.create_segment(
            engine, pw.wh, code=buyers.upper(), name="x", rule=RICH, actor="ann", today=TODAY
        )
    with pytest.raises(ConflictError, match=f"segment '{buyers}' already exists"):
        segments.create_segment(
            engine, pw.wh, code=buyers, name="x", rule=RICH, actor="ann", today=TODAY
        )
    # A loop is refused by path, and nothing changes.
    loop = {"any": [RICH, {"segment": rich}]}
    with pytest.raises(
        InputError,
        match=rf"^rule\.any\[1\]\.segment: '{rich}' refers back to '{buyers}' "
        rf"\({buyers} -> {rich} -> {buyers}\)",
    ):
        segments.update_rule(engine, pw.wh, buyers, loop, actor="ann", today=TODAY)
    with pytest.raises(InputError, match=f"a segment cannot contain itself \\('{buyers}'\\)"):
        segments.update_rule(engine, pw.wh, buyers, {"segment": buyers}, actor="ann", today=TODAY)
    assert segments.get_segment(engine, buyers).rule == BUYERS

    # Changing the rule evaluates it at once; the static one refuses a new rule.
    changed = segments.update_rule(engine, pw.wh, buyers, RICH, actor="bob", today=TODAY)
    assert changed.rule == RICH and stored(pw, buyers) == reference(pw, RICH)
    with pytest.raises(InputError, match="is static: its members are a frozen list"):
        segments.update_rule(engine, pw.wh, frozen, BUYERS, actor="bob", today=TODAY)

    listed = segments.list_segments(engine)
    assert [s.code for s in listed] == sorted([buyers, rich, frozen])
    assert segments.get_segment(engine, frozen).source == f"rule, evaluated on {TODAY}"

    # Delete: refused while read by another segment, then members go too.
    with pytest.raises(ConflictError, match=f"is used by segment\\(s\\) {rich}"):
        segments.delete_segment(engine, pw.wh, buyers, actor="ann")
    segments.delete_segment(engine, pw.wh, rich, actor="ann")
    assert stored(pw, rich) == set()
    with pytest.raises(NotFoundError, match=f"unknown segment '{rich}'"):
        segments.get_segment(engine, rich)
    with session_scope(engine, read_only=True) as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == [
        "segments.create",
        "segments.create",
        "segments.create",
        "segments.update",
        "segments.delete",
    ]
    for code in (buyers, frozen):
        segments.delete_segment(engine, pw.wh, code, actor="ann")


def test_refresh_evaluates_in_reference_order_and_keeps_failed_ones(
    pw: ProfileWorld, engine: Engine
) -> None:
    # "b_outer" reads "a_inner"; a refresh on a later day must evaluate a_inner first.
    segments.create_segment(
        engine, pw.wh, code="z_inner", name="inner", rule=BUYERS, actor="t", today=TODAY
    )
    outer = {"all": [{"segment": "z_inner"}, {"trait": "gender", "op": "is_set"}]}
    segments.create_segment(
        engine, pw.wh, code="a_outer", name="outer", rule=outer, actor="t", today=TODAY
    )
    segments.create_segment(
        engine, pw.wh, code="m_broken", name="broken", rule=RICH, actor="t", today=TODAY
    )
    before = stored(pw, "m_broken")
    with session_scope(engine) as session:  # a rule that no longer parses (edited by hand)
        session.execute(
            update(Segment).where(Segment.code == "m_broken").values(rule={"trait": "bogus"})
        )
    later = TODAY + timedelta(days=5)
    with pytest.raises(segments.SegmentRefreshError) as caught:
        segments.refresh_dynamic_segments(engine, pw.wh, today=later)
    error = caught.value
    assert list(error.failures) == ["m_broken"] and "unknown trait 'bogus'" in str(error)
    inner = reference(pw, BUYERS, later)
    both = inner & reference(pw, {"trait": "gender", "op": "is_set"}, later)
    assert error.sizes == {"z_inner": len(inner), "a_outer": len(both)}
    assert stored(pw, "z_inner") == inner and stored(pw, "a_outer") == both
    assert stored(pw, "m_broken") == before  # kept its previous members
    assert segments.get_segment(engine, "a_outer").size == len(both)
    segments.delete_segment(engine, pw.wh, "m_broken", actor="t")
    assert segments.refresh_dynamic_segments(engine, pw.wh, today=TODAY) == {
        "z_inner": len(reference(pw, BUYERS)),
        "a_outer": len(reference(pw, {"all": [BUYERS, {"trait": "gender", "op": "is_set"}]})),
    }
    for code in ("a_outer", "z_inner"):
        segments.delete_segment(engine, pw.wh, code, actor="t")


def test_static_lists_uploads_and_export(pw: ProfileWorld, engine: Engine) -> None:
    text = ["\ufeffuser_id,note\r\n", "u1,a\r\n", "not-a-user,b\r\n", "u1,dup\r\n", "u2,c\r\n"]
    ids = segments.read_user_ids(text, name="list.csv")
    assert ids == ["u1", "not-a-user", "u2"]
    made = segments.create_static_segment(
        engine,
        pw.wh,
        code="upload",
        name="上传",
        user_ids=ids,
        source="upload: list.csv",
        actor="t",
    )
    assert made.kind == "static" and made.size == 3 and stored(pw, "upload") == set(ids)
    lines = "".join(segments.csv_lines(segments.members(pw.wh, "upload"), batch=2))
    assert lines == "user_id\r\nnot-a-user\r\nu1\r\nu2\r\n"
    segments.delete_segment(engine, pw.wh, "upload", actor="t")
    # For a spreadsheet: a byte order mark, and no id read as a formula; for programs: exact.
    hostile = pa.table({"user_id": ["=cmd|' /C calc'!A0", "+1", "@SUM(1)", "用户一", "u-1"]})
    assert "".join(segments.csv_lines(hostile, spreadsheet=True)) == (
        "\ufeffuser_id\r\n'=cmd|' /C calc'!A0\r\n'+1\r\n'@SUM(1)\r\n用户一\r\nu-1\r\n"
    )
    assert "".join(segments.csv_lines(hostile)).splitlines()[1:] == [
        "=cmd|' /C calc'!A0", "+1", "@SUM(1)", "用户一", "u-1"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ([], "f.csv: empty file; expected a header with a user_id column"),
        (["id\n", "u1\n"], "f.csv: the header has no user_id column (found id)"),
        (["user_id\n", "u1\n", " \n"], "f.csv: line 3: user_id is empty"),
        (["user_id\n"], "f.csv: no user ids given"),
        (["user_id,x\n", "u1\n", "\n", "a\x01b\n"], "f.csv: line 4: user_id is not a valid id"),
    ],
)
def test_bad_uploads(text: list[str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        segments.read_user_ids(text, name="f.csv")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("code", "name", "message"),
    [
        ("a b", "n", "code: 'a b' is not a segment code"),
        ("'; DROP TABLE segments; --", "n", "is not a segment code"),
        ("人群", "n", "is not a segment code \\(ASCII letters"),
        ("ok", " ", "a segment needs a name"),
        ("ok", "x" * 201, "name: 201 characters; at most 200"),
    ],
)
def test_bad_codes_and_names(
    pw: ProfileWorld, engine: Engine, code: str, name: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        segments.create_segment(
            engine, pw.wh, code=code, name=name, rule=BUYERS, actor="t", today=TODAY
        )
    assert segments.list_segments(engine) == []


def test_funnel_drop_offs_become_a_static_segment(pw: ProfileWorld, engine: Engine) -> None:
    spec = FunnelSpec.of(
        ["view_item", "purchase"], start=date(2026, 10, 1), end=date(2026, 11, 15), window="7d"
    )
    dropped = funnel(pw.wh, spec).dropped_users(2)
    assert dropped
    made = segments.create_from_funnel(
        engine, pw.wh, code="dropped", name="浏览未购买", spec=spec, dropped_at=2, actor="t"
    )
    assert stored(pw, "dropped") == set(dropped) and made.size == len(dropped)
    assert made.source == (
        "funnel view_item > purchase (ordered, window 7d, 2026-10-01..2026-11-15): "
        "dropped out at step 2"
    )
    with pytest.raises(InputError, match="step 3 is not a step of this funnel"):
        segments.create_from_funnel(
            engine, pw.wh, code="d3", name="x", spec=spec, dropped_at=3, actor="t"
        )
    segments.delete_segment(engine, pw.wh, "dropped", actor="t")


@pytest.mark.parametrize("unbounded", [False, True])
def test_retention_cells_match_the_matrix(pw: ProfileWorld, unbounded: bool) -> None:
    kw: dict[str, Any] = {
        "period": "week",
        "start": date(2026, 10, 5),
        "end": date(2026, 11, 15),
        "unbounded": unbounded,
        "filters": Filters(traits=(TraitFilter("channel", "!=", ("unknown",)),)),
    }
    matrix = retention(pw.wh, periods=4, **kw)
    checked = 0
    for row in matrix.cohorts:
        for k, count in enumerate(row.retained):
            kept = retention_cell_users(pw.wh, cohort=row.cohort, k=k, **kw)
            lost = retention_cell_users(pw.wh, cohort=row.cohort, k=k, retained=False, **kw)
            assert len(kept) == count and len(kept) + len(lost) == row.size
            assert not set(kept) & set(lost)
            checked += count
    assert checked > 0
    with pytest.raises(InputError, match="is not the first day of a week"):
        retention_cell_users(pw.wh, cohort=date(2026, 10, 6), k=0, **kw)


def test_retention_cell_segment(pw: ProfileWorld, engine: Engine) -> None:
    kw: dict[str, Any] = {"period": "week", "start": date(2026, 10, 5), "end": date(2026, 11, 15)}
    lost = retention_cell_users(pw.wh, cohort=date(2026, 10, 12), k=2, retained=False, **kw)
    made = segments.create_from_retention(
        engine,
        pw.wh,
        code="lost",
        name="第2周流失",
        cohort=date(2026, 10, 12),
        k=2,
        retained=False,
        actor="t",
        **kw,
    )
    assert stored(pw, "lost") == set(lost) and made.size == len(lost) > 0
    assert made.source == (
        "retention by week (first activity): cohort 2026-10-12, period 2, not retained"
    )
    segments.delete_segment(engine, pw.wh, "lost", actor="t")


def test_rules_never_read_themselves_or_what_is_gone(pw: ProfileWorld, engine: Engine) -> None:
    """Rule tags and segments read each other: a rule naming what does not exist, or reading
    itself through others (each refresh would flip it), is refused by path; a tag or segment
    still read is not deleted (its readers would silently select no one)."""

    def rule_tag(code: str, when: dict[str, Any]) -> None:
        taxonomy.create_tag(
            engine, code=code, name=code, category="test", value_type="boolean", kind="rule",
            definition={"when": when},
        )  # fmt: skip

    scored = {"tag": "score", "op": ">", "value": 5}
    segments.create_segment(
        engine, pw.wh, code="scored", name="x", rule=scored, actor="ann", today=TODAY
    )
    for when, message in [
        ({"tag": "nope", "op": "is_set"}, "definition.when.tag: unknown tag 'nope'"),
        ({"segment": "gone"}, "definition.when.segment: unknown segment 'gone'"),
        ({"tag": "t1", "op": "is_set"}, r"definition.when.tag: a rule tag cannot read itself"),
    ]:
        with pytest.raises(InputError, match=f"^{message}"):
            rule_tag("t1", when)
    rule_tag("a", {"segment": "scored"})
    rule_tag("b", {"tag": "a", "op": "is_set"})
    with pytest.raises(InputError, match=r"^definition.when.tag: 'b' refers back to 'a' \(a -> b"):
        taxonomy.set_rule(engine, code="a", definition={"when": {"tag": "b", "op": "not_set"}})
    loop = {"all": [scored, {"tag": "a", "op": "is_set"}]}
    with pytest.raises(
        InputError, match=r"^rule.all\[1\].tag: 'a' refers back to 'scored' \(scored -> a -> scored"
    ):
        segments.update_rule(engine, pw.wh, "scored", loop, actor="ann", today=TODAY)
    assert taxonomy.get_tag(engine, "a").definition == {"when": {"segment": "scored"}}
    assert segments.get_segment(engine, "scored").rule == scored

    for delete, message in [
        (lambda: taxonomy.delete_tag(engine, code="a"), "tag 'a' is used by rule tag(s) b"),
        (lambda: taxonomy.delete_tag(engine, code="score"), "tag 'score' is used by segment(s) "
         "scored"),
        (lambda: segments.delete_segment(engine, pw.wh, "scored", actor="ann"),
         "segment 'scored' is used by rule tag(s) a"),
    ]:  # fmt: skip
        with pytest.raises(ConflictError, match=f"^{re.escape(message)}; change them first"):
            delete()
    assert {t.code for t in taxonomy.list_tags(engine)} >= {"a", "b", "score"}
    taxonomy.delete_tag(engine, code="b")
    taxonomy.delete_tag(engine, code="a")
    segments.delete_segment(engine, pw.wh, "scored", actor="ann")
    assert stored(pw, "scored") == set()
