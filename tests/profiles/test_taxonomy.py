"""The tag taxonomy: built-ins seeded once, categories and tags with checked codes and
definitions, parameters merged and checked as a whole (a refusal names the field and stores
nothing), built-ins protected; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from userops.errors import ConflictError, InputError, NotFoundError
from userops.membership.levels import LevelSpec, create_scheme
from userops.profiles import computed, taxonomy
from userops.store.db import session_scope
from userops.store.models import AuditEntry, TagCategory, TagDefinition


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine, read_only=True) as session:
        return (
            session.scalar(select(func.count()).select_from(TagCategory)) or 0,
            session.scalar(select(func.count()).select_from(TagDefinition)) or 0,
        )


def test_builtins_are_seeded_once_and_kept_as_operators_left_them(app_engine: Engine) -> None:
    first = _counts(app_engine)
    assert first == (len(taxonomy.BUILTIN_CATEGORIES), len(taxonomy.BUILTIN_TAGS))
    top = [c.code for c in taxonomy.list_categories(app_engine) if c.parent is None]
    assert top == ["basic", "behaviour", "value", "lifecycle", "membership", "channel"]
    taxonomy.set_params(app_engine, code="rfm_group", params={"lookback_days": 90})
    taxonomy.update_tag(app_engine, code="intent_level", is_active=False)
    assert taxonomy.seed_builtins(app_engine) == {"categories": 0, "tags": 0}
    assert _counts(app_engine) == first
    assert taxonomy.resolved_params(app_engine, "rfm_r")["lookback_days"] == 90
    assert not taxonomy.get_tag(app_engine, "intent_level").is_active
    group = taxonomy.get_tag(app_engine, "rfm_group")
    assert group.builtin and group.value_type == "enum" and group.category == "rfm"
    assert [lb.name for lb in group.labels][:2] == ["重要价值", "重要发展"]
    assert group.label("general_winback").name_en == "General to win back"  # type: ignore[union-attr]
    assert taxonomy.get_tag(app_engine, "rfm_m").value_type == "number"


def test_builtin_tags_are_described_in_both_languages(app_engine: Engine) -> None:
    for spec in taxonomy.BUILTIN_TAGS:
        tag = taxonomy.get_tag(app_engine, spec.code)
        assert tag.description and tag.description_en, spec.code
        assert re.search(r"[\u4e00-\u9fff]", tag.description), spec.code  # Chinese
        assert re.match(r"[A-Z][a-z]", tag.description_en), spec.code  # English
    lifecycle = taxonomy.get_tag(app_engine, "lifecycle_stage")
    assert lifecycle.as_json()["description_en"] == lifecycle.description_en
    assert all(stage in (lifecycle.description or "") for stage in ("引入期", "流失期"))


def test_every_builtin_definition_is_valid(app_engine: Engine) -> None:
    for tag in taxonomy.list_tags(app_engine):
        assert computed.check_definition(tag.definition) == tag.definition
        assert tag.value_type == computed.value_type(tag.definition["model"], tag.output)


def test_categories_two_levels_with_checked_codes(app_engine: Engine) -> None:
    made = taxonomy.create_category(app_engine, code="pets", name="宠物", name_en="Pets")
    sub = taxonomy.create_category(app_engine, code="dogs", name="狗", parent="pets")
    assert (made.parent, sub.parent) == (None, "pets")
    listed = [c.code for c in taxonomy.list_categories(app_engine)]
    assert listed.index("dogs") == listed.index("pets") + 1
    with pytest.raises(InputError, match="sub-category"):
        taxonomy.create_category(app_engine, code="puppies", name="x", parent="dogs")
    with pytest.raises(ConflictError, match="already exists"):
        taxonomy.create_category(app_engine, code="pets", name="again")
    for bad in ["Pets", "1pets", "pets!", "a" * 65, ""]:
        with pytest.raises(InputError, match="slug"):
            taxonomy.create_category(app_engine, code=bad, name="x")
    with pytest.raises(InputError, match="name must not be empty"):
        taxonomy.create_category(app_engine, code="empty", name="  ")
    with pytest.raises(NotFoundError):
        taxonomy.create_category(app_engine, code="cats", name="猫", parent="nope")
    with pytest.raises(ConflictError, match="sub-categories"):
        taxonomy.delete_category(app_engine, code="pets")
    with pytest.raises(ConflictError, match="built-in"):
        taxonomy.delete_category(app_engine, code="value")
    taxonomy.update_category(app_engine, code="dogs", name="犬", name_en="Dogs")
    taxonomy.delete_category(app_engine, code="dogs")
    taxonomy.delete_category(app_engine, code="pets")
    assert "pets" not in [c.code for c in taxonomy.list_categories(app_engine)]


def test_computed_tag_crud(app_engine: Engine) -> None:
    definition = {"model": "rfm", "output": "group", "params": {"lookback_days": 90}}
    tag = taxonomy.create_tag(
        app_engine,
        code="rfm90_group",
        name="RFM 90 天",
        category="rfm",
        value_type="enum",
        definition=definition,
        owner="运营部",
        description="近 90 天的 RFM 分群",
        description_en="RFM groups over 90 days",
        actor="alice",
    )
    assert (tag.description, tag.description_en) == (
        "近 90 天的 RFM 分群",
        "RFM groups over 90 days",
    )
    changed = taxonomy.update_tag(app_engine, code="rfm90_group", description_en="  ")
    assert (changed.description, changed.description_en) == ("近 90 天的 RFM 分群", None)
    with pytest.raises(InputError, match="English description must be text"):
        taxonomy.update_tag(app_engine, code="rfm90_group", description_en=3)
    assert tag.definition["params"]["scoring"] == "quantile"  # defaults filled in
    assert tag.definition["params"]["lookback_days"] == 90
    listed = [t.code for t in taxonomy.list_tags(app_engine, category="value")]
    assert "rfm90_group" in listed and "value_grade" in listed  # sub-categories included
    score = taxonomy.create_tag(
        app_engine,
        code="rfm90_r",
        name="R",
        category="rfm",
        value_type="number",
        definition={"model": "rfm", "output": "r", "params_from": "rfm90_group"},
    )
    assert score.definition == {"model": "rfm", "output": "r", "params_from": "rfm90_group"}
    with pytest.raises(ConflictError, match="takes its parameters"):
        taxonomy.delete_tag(app_engine, code="rfm90_group")
    taxonomy.delete_tag(app_engine, code="rfm90_r")
    taxonomy.delete_tag(app_engine, code="rfm90_group")
    with pytest.raises(ConflictError, match="built-in"):
        taxonomy.delete_tag(app_engine, code="rfm_group")
    with session_scope(app_engine, read_only=True) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "alice"))
        assert list(actions) == ["tags.create"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "Bad Code"}, "slug"),
        ({"code": "rfm_group"}, "already exists"),
        ({"category": "nope"}, "no tag category 'nope'"),
        ({"value_type": "text"}, "value type 'text'"),
        ({"value_type": "number"}, "gives enum values, not number"),
        ({"kind": "magic"}, "kind 'magic'"),
        ({"schedule": "hourly"}, "schedule 'hourly'"),
        ({"kind": "imported", "definition": {"values": "金"}}, "definition.values: a list"),
        ({"kind": "imported", "definition": {"values": ["金", 3]}}, r"definition.values\[1\]"),
        ({"definition": {"model": "astrology"}}, "unknown model 'astrology'"),
        ({"definition": {"model": "rfm", "output": "x"}}, "no output 'x'"),
        ({"definition": {"model": "rfm", "output": "group", "colour": 1}}, "no key 'colour'"),
        ({"definition": {"model": "rfm", "output": "group", "params_from": "nope"}}, "gone"),
        ({"definition": {"model": "rfm", "output": "group", "params": {"scoring": "x"}}},
         "'scoring'"),
    ],
)  # fmt: skip
def test_bad_tags_are_refused_and_nothing_is_stored(
    app_engine: Engine, change: dict[str, Any], message: str
) -> None:
    before = _counts(app_engine)
    spec: dict[str, Any] = {
        "code": "new_tag",
        "name": "新标签",
        "category": "value",
        "value_type": "enum",
        "definition": {"model": "rfm", "output": "group"},
        **change,
    }
    with pytest.raises(InputError, match=message):
        taxonomy.create_tag(app_engine, **spec)
    assert _counts(app_engine) == before


@pytest.mark.parametrize(
    ("code", "params", "field"),
    [
        ("rfm_group", {"lookback_days": 0}, "lookback_days"),
        ("rfm_group", {"lookback_days": "a year"}, "lookback_days"),
        ("rfm_group", {"recency_edges": [30, 20, 90, 180]}, "recency_edges"),
        ("rfm_group", {"monetary_edges": [1, 2, 3]}, "monetary_edges"),
        ("rfm_group", {"monetary_edges": [1, 2, 3, 4.555]}, "monetary_edges"),
        ("rfm_group", {"r_cut": 6}, "r_cut"),
        ("rfm_group", {"compare": "median"}, "compare"),
        ("rfm_group", {"lookback": 30}, "lookback"),
        ("lifecycle_stage", {"dormant_days": 90, "churn_days": 30}, "churn_days"),
        ("lifecycle_stage", {"mature_orders": 1}, "mature_orders"),
        ("value_grade", {"shares": [5, 10, 20, 30, 30]}, "shares"),
        ("value_grade", {"shares": [0, 10, 20, 30, 40]}, "shares"),
        ("value_grade", {"thresholds": [100, 300, 1000, 3000]}, "thresholds"),
        ("value_grade", {"measure": "events"}, "event"),
        ("value_grade", {"measure": "orders", "event": "x"}, "event"),
        ("intent_level", {"mapping": {"ads": "very strong"}}, "mapping"),
        ("intent_level", {"mapping": ["ads"]}, "mapping"),
        ("intent_level", {"default": "none"}, "default"),
        ("activity_level", {"high_days": 40}, "high_days"),
        ("activity_level", {"medium_days": 10}, "medium_days"),
        ("member_join_path", {"anything": 1}, "anything"),
    ],
)
def test_bad_parameters_name_the_field_and_change_nothing(
    app_engine: Engine, code: str, params: dict[str, Any], field: str
) -> None:
    before = taxonomy.get_tag(app_engine, code).definition
    with pytest.raises(InputError, match=f"'{field}'"):
        taxonomy.set_params(app_engine, code=code, params=params)
    assert taxonomy.get_tag(app_engine, code).definition == before


def test_parameters_merge_or_replace(app_engine: Engine) -> None:
    taxonomy.set_params(app_engine, code="rfm_group", params={"scoring": "threshold"})
    merged = taxonomy.set_params(app_engine, code="rfm_group", params={"lookback_days": "180"})
    assert merged.definition["params"]["scoring"] == "threshold"
    assert merged.definition["params"]["lookback_days"] == 180
    edges = taxonomy.set_params(
        app_engine, code="rfm_group", params={"recency_edges": "7,30,60,90"}
    )
    assert edges.definition["params"]["recency_edges"] == [7, 30, 60, 90]
    fresh = taxonomy.set_params(
        app_engine, code="rfm_group", params={"compare": "cut"}, replace=True
    )
    assert fresh.definition["params"]["scoring"] == "quantile"
    assert fresh.definition["params"]["compare"] == "cut"
    with pytest.raises(InputError, match="takes its parameters from 'rfm_group'"):
        taxonomy.set_params(app_engine, code="rfm_r", params={"lookback_days": 30})


def test_level_schemes_get_a_member_level_tag(app_engine: Engine) -> None:
    create_scheme(
        app_engine,
        code="vip",
        name="VIP 等级",
        levels=[LevelSpec("v1", "V1", 0), LevelSpec("v2", "V2", 100)],
        actor="cli",
    )
    assert taxonomy.sync_level_tags(app_engine) == 1
    assert taxonomy.sync_level_tags(app_engine) == 0
    tag = taxonomy.get_tag(app_engine, "member_level_vip")
    assert tag.definition == {"model": "member", "output": "level", "params": {"scheme": "vip"}}
    assert tag.category == "membership" and tag.name == "VIP 等级"  # not 会员等级: VIP 等级
    assert [(lb.code, lb.name) for lb in tag.labels] == [("v1", "V1"), ("v2", "V2")]
    assert "'vip'" in (tag.description or "") and "'vip'" in (tag.description_en or "")
