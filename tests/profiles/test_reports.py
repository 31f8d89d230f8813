"""The dashboards' numbers (userops.profiles.reports): the RFM groups' buyers, revenue and
average scores equal a pandas computation from the generated rows; a tag's values come in its
own order with every label; a preview of new parameters or a rule gives exactly what saving
them and refreshing writes, and stores nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.profiles import reference as ref
from tests.profiles.conftest import Refreshable
from tests.profiles.tag_data import TODAY
from userops.errors import InputError
from userops.profiles import computed, refresh, reports, tagvalues, taxonomy
from userops.warehouse.connection import Warehouse


def _run(fresh: Refreshable, wh: Warehouse, **kw: Any) -> None:
    run = refresh.refresh_tags(
        fresh.engine, lambda: refresh.lend(wh), today=TODAY, tz=fresh.settings.tz, **kw
    )
    assert run.status == "succeeded", run.error


def _defaults() -> dict[str, dict[str, Any]]:
    return {
        m: computed.parse_params(m, None)
        for m in ("rfm", "lifecycle", "grade", "intent", "activity")
    }


def test_before_any_refresh_the_groups_are_empty(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        report = reports.rfm_report(fresh.engine, wh)
    assert report.day is None and report.users == 0 and report.revenue == 0
    assert [g.code for g in report.groups] == list(ref.GROUPS.values())
    assert all(g.user_share is None and g.avg_r is None for g in report.groups)


def test_the_rfm_report_equals_the_reference(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        _run(fresh, wh)
        report = reports.rfm_report(fresh.engine, wh)
    frames = fresh.world.frames
    params = _defaults()["rfm"]
    ev = ref.resolved(frames)
    known = ref.known_users(frames, ev)
    scores = ref.rfm(frames, ev, known, params)
    window = ev[
        (ev.revenue_cents > 0) & (ev.ts >= frames.start_of(params["lookback_days"]))
        & ev.uid.isin(known.index)
    ]  # fmt: skip
    cents = window.groupby("uid").revenue_cents.sum()
    group = scores["group"].value
    assert report.day == TODAY and report.users == len(group) > 20
    total = Decimal(int(cents.sum())) / 100
    assert report.revenue == total
    for g in report.groups:
        members = group[group == g.code].index
        assert g.users == len(members), g.code
        revenue = Decimal(int(cents.reindex(members).fillna(0).sum())) / 100
        assert g.revenue == revenue, g.code
        assert g.user_share == pytest.approx(len(members) / len(group))
        assert g.revenue_share == pytest.approx(float(revenue / total))
        for key, avg in (("r", g.avg_r), ("f", g.avg_f), ("m", g.avg_m)):
            numbers = scores[key].number.reindex(members)
            assert avg == (pytest.approx(numbers.mean()) if len(members) else None), (g.code, key)
    assert sum(g.revenue_share or 0 for g in report.groups) == pytest.approx(1.0)


def test_values_come_in_the_tags_order_with_every_label(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        _run(fresh, wh, tags=["lifecycle_stage", "value_grade"])
        stages = reports.value_counts(fresh.engine, wh, "lifecycle_stage")
        grades = reports.value_counts(fresh.engine, wh, "value_grade")
        stored = {r["value"]: r["users"] for r in tagvalues.distribution(wh, "value_grade")}
    assert [c.value for c in stages] == ["introduction", "growth", "maturity", "dormancy", "churn"]
    assert stages[0].name == "引入期"
    assert [c.value for c in grades] == list("SABCD")
    assert {c.value: c.users for c in grades if c.users} == stored
    assert sum(c.share or 0 for c in grades) == pytest.approx(1.0)
    info = taxonomy.get_tag(fresh.engine, "value_grade")
    mixed = reports.ordered_counts(info, [{"value": "Z", "users": 2}, {"value": "A", "users": 2}])
    assert [(c.value, c.users) for c in mixed] == [
        ("S", 0), ("A", 2), ("B", 0), ("C", 0), ("D", 0), ("Z", 2)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("tag", "params"),
    [
        ("lifecycle_stage", {"churn_days": "60", "dormant_days": 20}),
        ("rfm_group", {"scoring": "threshold", "compare": "cut", "r_cut": 4}),
        ("value_grade", {"method": "thresholds", "thresholds": "500, 200, 100, 50"}),
        ("activity_level", {"window_days": 14}),
    ],
)
def test_a_preview_gives_what_saving_writes(
    fresh: Refreshable, tag: str, params: dict[str, Any]
) -> None:
    before = taxonomy.get_tag(fresh.engine, tag).definition
    with fresh.warehouse() as wh:
        preview = reports.preview_tag(
            fresh.engine, wh, tag, today=TODAY, tz=fresh.settings.tz, params=params
        )
        assert taxonomy.get_tag(fresh.engine, tag).definition == before  # nothing stored
        taxonomy.set_params(fresh.engine, code=tag, params=params, replace=True)
        _run(fresh, wh, tags=[tag])
        written = {r["value"]: r["users"] for r in tagvalues.distribution(wh, tag)}
    assert {c.value: c.users for c in preview if c.users} == written and written


def test_a_rule_preview_gives_what_the_rule_tag_writes(fresh: Refreshable) -> None:
    definition = {
        "cases": [
            {"when": {"event": "purchase", "op": ">=", "value": 3}, "then": "loyal"},
            {"when": {"event": "purchase"}, "then": "buyer"},
        ],
        "else": "browser",
    }
    with fresh.warehouse() as wh:
        loose = reports.preview_rule_tag(wh, definition, today=TODAY)
        taxonomy.create_tag(
            fresh.engine,
            code="buyer_kind",
            name="购买类型",
            category="behaviour",
            value_type="enum",
            kind="rule",
            definition=definition,
        )
        saved = reports.preview_tag(
            fresh.engine, wh, "buyer_kind", today=TODAY, tz=fresh.settings.tz
        )
        _run(fresh, wh, tags=["buyer_kind"])
        written = {r["value"]: r["users"] for r in tagvalues.distribution(wh, "buyer_kind")}
    assert {c.value: c.users for c in loose} == written == {c.value: c.users for c in saved}
    assert set(written) == {"loyal", "buyer", "browser"}
    assert [c.users for c in loose] == sorted((c.users for c in loose), reverse=True)


def test_a_bad_preview_is_refused_with_the_reason(fresh: Refreshable) -> None:
    with fresh.warehouse() as wh:
        with pytest.raises(InputError, match="rfm parameter 'r_cut'"):
            reports.preview_tag(
                fresh.engine, wh, "rfm_group", today=TODAY, tz=fresh.settings.tz,
                params={"r_cut": 9},
            )  # fmt: skip
        with pytest.raises(InputError, match="takes its parameters from 'rfm_group'"):
            reports.preview_tag(fresh.engine, wh, "rfm_r", today=TODAY, tz=fresh.settings.tz)
        with pytest.raises(InputError, match=r"definition\.when\.op"):
            reports.preview_rule_tag(
                wh, {"when": {"event": "purchase", "op": "~", "value": 1}}, today=TODAY
            )
        with pytest.raises(InputError, match="no tag 'nope'"):
            reports.value_counts(fresh.engine, wh, "nope")
