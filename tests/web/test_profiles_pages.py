"""The profiles console (/profiles): every page renders with data from a refreshed warehouse and
shows the services' numbers; the tag editor previews and saves parameters (a bad one is shown
and stores nothing); the segment builder previews live and saves through its form (a bad rule
is shown with its row, nothing saved; a viewer cannot save); the refresh starts from the page;
the user 360 masks phone and email below admin; every route checks its role."""

from __future__ import annotations

import html
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.profiles.conftest import make_world
from tests.profiles.tag_data import TODAY
from tests.web.support import Console, csrf_token, running_console
from userops.domain.audience import MEASURES, TRAIT_FIELDS
from userops.profiles import history, refresh, reports, segments, tagvalues, taxonomy, user360
from userops.profiles.computed.lifecycle import STAGES
from userops.profiles.computed.rfm import GROUPS
from userops.services import auth
from userops.store.db import session_scope
from userops.store.models import (
    REFRESH_SCHEDULES,
    TAG_KINDS,
    TAG_VALUE_TYPES,
    Segment,
    TagDefinition,
)
from userops.web import profiles as web_profiles
from userops.web.i18n import EN, ZH_CN
from userops.web.profiles import builder

SH = ZoneInfo("Asia/Shanghai")
DAY1 = TODAY - timedelta(days=40)
TEMPLATES = Path(__file__).parents[2] / "src" / "userops" / "web" / "templates" / "profiles"
PHONE = "13800000000"  # u000's phone and email (tests/profiles/tag_data.py)
EMAIL = "User.u000@Example.com"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console over the generated tag world (Asia/Shanghai), refreshed on two days."""
    folder = tmp_path_factory.mktemp("profiles-pages")
    world = make_world(folder / "world", 11, "Asia/Shanghai")
    data = folder / "data"
    shutil.copytree(world.settings.data_dir, data)
    with running_console(data) as running:
        runtime = running.app.state.runtime
        for day in (DAY1, TODAY):
            run = refresh.refresh_tags(
                runtime.engine, runtime.warehouse, today=day, tz=runtime.settings.tz
            )
            assert run.status == "succeeded", run.error
        yield running


def today() -> Any:
    return datetime.now(SH).date()


def token(client: TestClient) -> str:
    return csrf_token(client, "/logout")


def post(client: TestClient, path: str, data: dict[str, Any], **kw: Any) -> Any:
    return client.post(
        path, data={**data, "csrf_token": token(client)}, follow_redirects=False, **kw
    )


def htmx(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    headers = {"HX-Request": "true", "X-CSRF-Token": token(client)}
    return client.post(path, data=data, headers=headers)


def cells(page: str, table: str, key: str) -> dict[str, int]:
    """`data-<key>` of each row of a table -> its users cell's data-value."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(rf'data-{key}="([^"]*)".*?data-field="users" data-value="(\d+)"', body, re.S)
    return {k: int(v) for k, v in rows}


# Pages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/profiles", ["Tag taxonomy", 'id="tag-rfm_group"', "RFM group", "Run #2", "Succeeded"]),
        (
            "/profiles/rfm",
            ["Important to win back", "data-profiles-chart=", "recall with a strong coupon"],
        ),
        ("/profiles/lifecycle", ["Introduction", "Churn", "no activity for 90 days or more"]),
        ("/profiles/grades", ["Grade S", '"kind": "pyramid"', "Resources first"]),
        ("/profiles/migration", ["migration-matrix", '"kind": "sankey"', "2026-10-11"]),
        ("/profiles/segments", ["No segments yet", "Segments are audiences"]),
        ("/profiles/users", ["user-search"]),
        (
            "/profiles/users/u000",
            ["User u000", "Lifecycle stage", "timeline-events", "/membership/members/u000/panel"],
        ),
        (
            "/profiles/tags/rfm_group",
            ["Users per value", "params-form", 'name="param.lookback_days"'],
        ),
        ("/profiles/tags/rfm_r", ["This tag uses the parameters of", "rfm_group"]),
    ],
)
def test_each_page_renders_with_data(console: Console, path: str, expected: list[str]) -> None:
    response = console.clients["viewer"].get(path)
    assert response.status_code == 200, response.text[:500]
    text = html.unescape(response.text)
    for part in expected:
        assert part in text, (path, part)


def test_the_navigation_links_the_profiles_area(console: Console) -> None:
    page = console.clients["viewer"].get("/profiles/rfm").text
    assert re.search(r'<a href="/profiles"[^>]*>Profiles &amp; segments</a>', page)


def test_the_pages_speak_chinese(console: Console) -> None:
    client = console.clients["viewer"]
    client.cookies.set("userops_lang", "zh-CN")
    try:
        assert "重要挽留" in client.get("/profiles/rfm").text
        assert "大额优惠券" in client.get("/profiles/rfm").text
        assert "流失期" in client.get("/profiles/lifecycle").text
        assert "人群圈选" in client.get("/profiles/segments").text
        assert "基础属性" in client.get("/profiles/users/u000").text
        described = '<p id="tag-description">引入期、成长期、成熟期、休眠期或流失期。</p>'
        assert described in client.get("/profiles/tags/lifecycle_stage").text
    finally:
        client.cookies.delete("userops_lang")


def test_the_dashboards_show_the_services_numbers(console: Console) -> None:
    client = console.clients["viewer"]
    runtime = console.app.state.runtime
    with runtime.warehouse() as wh:
        rfm = reports.rfm_report(console.engine, wh)
        groups = {r["value"]: r["users"] for r in tagvalues.distribution(wh, "rfm_group")}
        stages = {r["value"]: r["users"] for r in tagvalues.distribution(wh, "lifecycle_stage")}
        grades = {r["value"]: r["users"] for r in tagvalues.distribution(wh, "value_grade")}
        moved = history.migration(console.engine, wh, tag="rfm_group", start=DAY1, end=TODAY)
    page = client.get("/profiles/rfm").text
    shown = cells(page, "rfm-groups", "group")
    assert shown == {g.code: g.users for g in rfm.groups}
    assert {k: v for k, v in shown.items() if v} == groups and sum(groups.values()) > 20
    for g in rfm.groups:  # revenue and its share per group, as the report has them
        row = page.split(f'data-group="{g.code}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-field="revenue" data-value="{g.revenue}"' in row
        if g.revenue_share is not None:
            assert f'data-value="{g.revenue_share}"' in row
    assert f'data-value="{rfm.users}"' in page and f'data-value="{rfm.revenue}"' in page
    assert {
        k: v
        for k, v in cells(
            client.get("/profiles/lifecycle").text, "lifecycle-stages", "stage"
        ).items()
        if v
    } == stages
    assert {
        k: v
        for k, v in cells(client.get("/profiles/grades").text, "grade-table", "grade").items()
        if v
    } == grades
    migration = client.get(
        "/profiles/migration", params={"tag": "rfm_group", "start": str(DAY1), "end": str(TODAY)}
    ).text
    summary = f'data-moved="{moved.as_json()["moved"]}" data-total="{moved.as_json()["users"]}"'
    assert summary in migration
    for cell in moved.cells:  # every cell of the service's matrix is on the page
        row = migration.split(f'data-from="{cell.before or ""}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-to="{cell.after or ""}">{cell.users:,}<' in row


def test_a_bad_migration_day_is_shown(console: Console) -> None:
    response = console.clients["viewer"].get(
        "/profiles/migration", params={"tag": "rfm_group", "start": "2020-01-01"}
    )
    assert response.status_code == 400
    assert "has no snapshot on or before 2020-01-01" in html.unescape(response.text)


def test_the_tag_page_shows_the_distribution(console: Console) -> None:
    with console.app.state.runtime.warehouse() as wh:
        counts = reports.value_counts(console.engine, wh, "lifecycle_stage")
    page = console.clients["viewer"].get("/profiles/tags/lifecycle_stage").text
    for c in counts:
        assert f'<tr data-value="{c.value}">' in page
        assert f'data-users="{c.users}"' in page
    assert '<p id="tag-description">Introduction, growth, maturity, dormancy' in page
    assert 'id="save-params"' not in page  # a viewer reads only
    assert 'id="preview-params"' not in page


# The tag editor -----------------------------------------------------------------------------


def test_previewing_parameters_stores_nothing(console: Console) -> None:
    analyst = console.clients["analyst"]
    before = taxonomy.get_tag(console.engine, "lifecycle_stage").definition
    sent = {"param.churn_days": "60", "param.dormant_days": "20"}
    reply = htmx(analyst, "/profiles/tags/lifecycle_stage/preview", sent)
    assert reply.status_code == 200
    with console.app.state.runtime.warehouse() as wh:
        expected = reports.preview_tag(
            console.engine,
            wh,
            "lifecycle_stage",
            today=today(),
            tz=SH,
            params={"churn_days": "60", "dormant_days": "20"},
        )
    for c in expected:
        assert f'<tr data-value="{c.value}"><td>' in reply.text
        assert f'data-users="{c.users}"' in reply.text
    assert f'data-value="{sum(c.users for c in expected)}"' in reply.text
    assert taxonomy.get_tag(console.engine, "lifecycle_stage").definition == before
    bad = htmx(analyst, "/profiles/tags/lifecycle_stage/preview", {"param.churn_days": "0"})
    assert "churn_days" in bad.text and 'id="preview-error"' in bad.text
    viewer = console.clients["viewer"]
    refused = htmx(viewer, "/profiles/tags/lifecycle_stage/preview", sent)
    assert refused.status_code == 403


def test_saving_parameters_needs_change_and_a_good_value(console: Console) -> None:
    code = "activity_level"
    before = taxonomy.get_tag(console.engine, code).definition
    for who in ("viewer", "analyst"):
        response = post(
            console.clients[who], f"/profiles/tags/{code}/params", {"param.window_days": "20"}
        )
        assert response.status_code == 403
    operator = console.clients["operator"]
    bad = post(operator, f"/profiles/tags/{code}/params", {"param.window_days": "abc"})
    assert bad.status_code == 400
    text = html.unescape(bad.text)
    assert "activity parameter 'window_days': 'abc' is not a whole number" in text
    assert 'value="abc"' in text  # the form keeps what was typed
    assert taxonomy.get_tag(console.engine, code).definition == before
    good = post(operator, f"/profiles/tags/{code}/params", {"param.window_days": "20"})
    assert good.status_code == 303
    assert taxonomy.get_tag(console.engine, code).definition["params"]["window_days"] == 20
    actions = [(e.action, e.target) for e in auth.list_audit_entries(console.engine, limit=50)]
    assert ("tags.params", code) in actions
    page = operator.get(f"/profiles/tags/{code}").text
    assert "The parameters of activity_level were saved" in page
    assert 'name="param.window_days" value="20"' in page


def test_a_rule_tag_is_previewed_then_created(console: Console) -> None:
    operator = console.clients["operator"]
    definition = '{"when": {"event": "purchase", "op": ">=", "value": 2}}'
    preview = htmx(operator, "/profiles/rule-tags/preview", {"definition": definition})
    with console.app.state.runtime.warehouse() as wh:
        expected = reports.preview_rule_tag(
            wh, {"when": {"event": "purchase", "op": ">=", "value": 2}}, today=today()
        )
    assert expected and f'data-users="{expected[0].users}"' in preview.text
    bad = post(
        operator,
        "/profiles/rule-tags",
        {
            "code": "repeat_buyer",
            "name": "复购",
            "category": "behaviour",
            "definition": '{"when": {"event": "purchase", "op": "~", "value": 2}}',
        },
    )
    assert bad.status_code == 400
    assert "definition.when.op: unknown operator '~'" in html.unescape(bad.text)
    with session_scope(console.engine, read_only=True) as session:
        assert (
            session.scalar(select(TagDefinition).where(TagDefinition.code == "repeat_buyer"))
            is None
        )
    made = post(
        operator,
        "/profiles/rule-tags",
        {
            "code": "repeat_buyer",
            "name": "复购",
            "category": "behaviour",
            "description": "买过两次及以上",
            "description_en": "Bought twice or more",
            "definition": definition,
        },
    )
    assert made.status_code == 303 and made.headers["location"] == "/profiles/tags/repeat_buyer"
    info = taxonomy.get_tag(console.engine, "repeat_buyer")
    assert (info.kind, info.value_type, info.owner) == ("rule", "boolean", "operator")
    assert (info.description, info.description_en) == ("买过两次及以上", "Bought twice or more")
    page = operator.get("/profiles/tags/repeat_buyer").text
    assert "definition.when" not in page and 'id="preview-rule"' in page
    # a rule tag is switched off (kept, not refreshed) and on again
    assert (
        post(
            console.clients["analyst"], "/profiles/tags/repeat_buyer/active", {"active": "0"}
        ).status_code
        == 403
    )
    off = post(operator, "/profiles/tags/repeat_buyer/active", {"active": "0"})
    assert off.status_code == 303 and not taxonomy.get_tag(console.engine, "repeat_buyer").is_active
    assert post(operator, "/profiles/tags/repeat_buyer/active", {"active": "1"}).status_code == 303
    assert taxonomy.get_tag(console.engine, "repeat_buyer").is_active


def test_a_saved_rule_tag_is_edited_and_the_refresh_follows_the_new_rule(
    console: Console,
) -> None:
    operator = console.clients["operator"]
    first = {"when": {"event": "purchase", "op": ">=", "value": 1}}
    taxonomy.create_tag(
        console.engine,
        code="buyer_edit",
        name="买家",
        category="behaviour",
        value_type="boolean",
        kind="rule",
        definition=first,
    )
    page = operator.get("/profiles/tags/buyer_edit").text
    assert 'action="/profiles/tags/buyer_edit/rule"' in page and 'id="save-rule"' in page
    assert 'id="save-rule"' not in console.clients["analyst"].get("/profiles/tags/buyer_edit").text
    two = '{"when": {"event": "purchase", "op": ">=", "value": 2}}'
    assert (
        post(
            console.clients["analyst"], "/profiles/tags/buyer_edit/rule", {"definition": two}
        ).status_code
        == 403
    )
    refused = [
        (
            '{"when": {"event": "purchase", "op": "~", "value": 2}}',
            "definition.when.op: unknown operator '~'",
        ),
        (
            '{"cases": [{"when": {"event": "purchase", "op": ">=", "value": 2}, "then": "A"}], '
            '"else": "B"}',
            "gives enum values, not boolean",
        ),
        ("{not json", "the definition is not valid JSON"),
    ]
    for text, reason in refused:
        bad = post(operator, "/profiles/tags/buyer_edit/rule", {"definition": text})
        assert bad.status_code == 400 and reason in html.unescape(bad.text)
        assert text in html.unescape(bad.text)  # what was sent stays in the editor
        assert taxonomy.get_tag(console.engine, "buyer_edit").definition == first
    saved = post(operator, "/profiles/tags/buyer_edit/rule", {"definition": two})
    assert saved.status_code == 303 and saved.headers["location"] == "/profiles/tags/buyer_edit"
    assert taxonomy.get_tag(console.engine, "buyer_edit").definition == orjson.loads(two)
    assert "The rule of buyer_edit was saved" in operator.get("/profiles/tags/buyer_edit").text
    actions = [(e.action, e.target) for e in auth.list_audit_entries(console.engine, limit=50)]
    assert ("tags.rule", "buyer_edit") in actions
    with console.app.state.runtime.warehouse() as wh:
        expected = reports.preview_rule_tag(wh, orjson.loads(two), today=today())
        refresh.refresh_tags(
            console.engine,
            lambda: refresh.lend(wh),
            today=today(),
            tz=SH,
            tags=["buyer_edit"],
        )
    info = taxonomy.get_tag(console.engine, "buyer_edit")
    buyers = sum(c.users for c in expected if c.value == "true")
    assert buyers > 0 and info.tagged_users == buyers


# Refresh --------------------------------------------------------------------------------------


def test_refresh_now_starts_a_run_the_page_follows(console: Console) -> None:
    assert post(console.clients["analyst"], "/profiles/refresh", {}).status_code == 403
    operator = console.clients["operator"]
    started = htmx(operator, "/profiles/refresh", {"tag": "intent_level", "force": "1"})
    assert started.status_code == 200
    run_id = int(re.search(r'data-run="(\d+)"', started.text).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 120
    while True:
        status = console.clients["viewer"].get(f"/profiles/refresh/runs/{run_id}").text
        if 'data-status="running"' not in status:
            break
        assert 'hx-trigger="every 1s"' in status  # the page asks again while it runs
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert 'data-status="succeeded"' in status and "every 1s" not in status
    run = refresh.get_run(console.engine, run_id)
    assert run.trigger == "console:operator" and run.count("refreshed") == 1
    assert f"Run #{run_id}" in console.clients["viewer"].get("/profiles").text
    missing = htmx(operator, "/profiles/refresh", {"tag": "nope"})
    assert "The refresh did not start" in html.unescape(missing.text) and "nope" in missing.text
    assert console.clients["viewer"].get("/profiles/refresh/runs/99999").status_code == 404


# Segments -------------------------------------------------------------------------------------


def rule_form(city_op: str = "is_set", orders: str = "1") -> dict[str, Any]:
    """The builder's fields for: all of (channel is set, purchase count >= orders)."""
    return {
        "node": ["r", "r.0", "r.1"],
        "kind.r": "all",
        "kind.r.0": "trait",
        "was.r.0": "trait",
        "field.r.0": "channel",
        "op.r.0": city_op,
        "kind.r.1": "event",
        "was.r.1": "event",
        "field.r.1": "purchase",
        "measure.r.1": "count",
        "op.r.1": ">=",
        "value.r.1": orders,
    }


RULE = {
    "all": [
        {"trait": "channel", "op": "is_set"},
        {"event": "purchase", "op": ">=", "value": 1},
    ]
}


def preview_count(text: str) -> int:
    match = re.search(r'id="preview-count" data-value="(\d+)"', text)
    assert match, text[:2000]
    return int(match.group(1))


def test_the_builder_previews_live(console: Console) -> None:
    analyst = console.clients["analyst"]
    first = htmx(analyst, "/profiles/segments/preview", rule_form())
    with console.app.state.runtime.warehouse() as wh:
        expected = segments.preview(wh, RULE, today=today(), engine=console.engine)
        stricter = segments.preview(
            wh,
            {"all": [RULE["all"][0], {"event": "purchase", "op": ">=", "value": 3}]},
            today=today(),
            engine=console.engine,
        )
    assert preview_count(first.text) == expected.count > stricter.count > 0
    assert all(f'href="/profiles/users/{uid}"' in first.text for uid in expected.sample)
    second = htmx(analyst, "/profiles/segments/preview", rule_form(orders="3"))
    assert preview_count(second.text) == stricter.count
    assert (
        htmx(console.clients["viewer"], "/profiles/segments/preview", rule_form()).status_code
        == 403
    )


def test_a_bad_rule_names_its_row(console: Console) -> None:
    analyst = console.clients["analyst"]
    reply = htmx(analyst, "/profiles/segments/preview", rule_form(orders="many"))
    text = html.unescape(reply.text)
    assert 'id="preview-error"' in text
    assert "Row 2: rule.all[1].value: expected a whole number of 0 or more, got 'many'" in text
    unknown = {
        **rule_form(),
        "kind.r.0": "tag",
        "was.r.0": "tag",
        "field.r.0": "no_such_tag",
        "op.r.0": "is_set",
    }
    reply = htmx(analyst, "/profiles/segments/preview", unknown)
    assert "Row 1: rule.all[0].tag: unknown tag 'no_such_tag'" in html.unescape(reply.text)


def test_the_builder_compares_phone_only_for_admins(console: Console) -> None:
    by_phone = {**rule_form(), "field.r.0": "phone", "op.r.0": "=", "value.r.0": "13800000000"}
    refused = html.unescape(
        htmx(console.clients["analyst"], "/profiles/segments/preview", by_phone).text
    )
    assert 'id="preview-error"' in refused
    assert "rule.all[0]: comparing phone or email needs the admin role" in refused
    allowed = htmx(console.clients["admin"], "/profiles/segments/preview", by_phone).text
    assert 'id="preview-error"' not in allowed
    presence = {**rule_form(), "field.r.0": "phone", "op.r.0": "is_set"}
    reply = htmx(console.clients["analyst"], "/profiles/segments/preview", presence).text
    assert 'id="preview-error"' not in reply


def test_the_builder_adds_and_removes_rows(console: Console) -> None:
    analyst = console.clients["analyst"]
    added = htmx(analyst, "/profiles/segments/builder", {**rule_form(), "action": "add:r:group"})
    assert 'data-path="r.2"' in added.text and 'data-path="r.2.0"' in added.text
    assert 'name="kind.r.2"' in added.text and "Row 3.1: rule.all[2].all[0]" not in added.text
    removed = htmx(analyst, "/profiles/segments/builder", {**rule_form(), "action": "remove:r.0"})
    assert 'data-path="r.1"' not in removed.text and 'value="purchase"' in removed.text
    loaded = htmx(
        analyst,
        "/profiles/segments/builder",
        {
            **rule_form(),
            "action": "load-json",
            "rule_json": '{"any": [{"segment": "x"}, '
            '{"not": {"trait": "city", "op": "=", "value": "上海"}}]}',
        },
    )
    assert (
        'class="rule-group group-any"' in loaded.text
        and 'class="rule-group group-not"' in loaded.text
    )
    assert "rule.any[0].segment: unknown segment 'x'" in html.unescape(loaded.text)
    broken = htmx(
        analyst,
        "/profiles/segments/builder",
        {**rule_form(), "action": "load-json", "rule_json": "{"},
    )
    assert 'id="json-error"' in broken.text and 'value="purchase"' in broken.text


def test_saving_a_segment_through_the_form(console: Console) -> None:
    fields = {**rule_form(), "code": "buyers_web", "name": "有渠道的买家", "kind": "dynamic"}
    assert post(console.clients["viewer"], "/profiles/segments", fields).status_code == 403
    operator = console.clients["operator"]
    bad = post(operator, "/profiles/segments", {**fields, "value.r.1": "-1"})
    assert bad.status_code == 400
    assert "rule.all[1].value: expected a whole number of 0 or more, got -1" in html.unescape(
        bad.text
    )
    assert 'value="buyers_web"' in bad.text  # what was typed is kept
    bad_code = post(operator, "/profiles/segments", {**fields, "code": "no spaces"})
    assert bad_code.status_code == 400 and "is not a segment code" in html.unescape(bad_code.text)
    with session_scope(console.engine, read_only=True) as session:
        assert session.scalar(select(Segment.id)) is None
    saved = post(operator, "/profiles/segments", fields)
    assert saved.status_code == 303 and saved.headers["location"] == "/profiles/segments/buyers_web"
    info = segments.get_segment(console.engine, "buyers_web")
    assert info.rule == RULE and info.kind == "dynamic" and info.owner == "operator"
    with console.app.state.runtime.warehouse() as wh:
        members = segments.members(wh, "buyers_web").column("user_id").to_pylist()
    assert info.size == len(members) > 0
    page = operator.get("/profiles/segments/buyers_web").text
    assert f"Segment buyers_web was saved with {info.size:,} users." in page
    assert f'href="/profiles/users/{members[0]}"' in page
    assert 'data-path="r.1"' in page and 'value="purchase"' in page  # the rule, in the builder
    seen = console.clients["viewer"].get("/profiles/segments/buyers_web").text
    assert '<fieldset class="builder-body" disabled>' in seen  # a viewer reads the rule
    assert 'id="save-rule"' not in seen and "hx-post" not in seen and "delete-form" not in seen
    listing = console.clients["viewer"].get("/profiles/segments").text
    assert 'id="segment-buyers_web"' in listing and f'data-value="{info.size}"' in listing
    export = console.clients["viewer"].get("/profiles/segments/buyers_web/export.csv")
    assert export.status_code == 200 and export.text.split("\r\n")[1:-1] == members
    assert export.content.startswith("\ufeffuser_id".encode())  # Excel reads it as UTF-8
    taken = post(operator, "/profiles/segments", fields)
    assert taken.status_code == 400 and "already exists" in taken.text
    static = post(
        operator, "/profiles/segments", {**fields, "code": "buyers_frozen", "kind": "static"}
    )
    assert static.status_code == 303
    assert segments.get_segment(console.engine, "buyers_frozen").kind == "static"


def test_changing_and_deleting_a_segment(console: Console) -> None:
    operator = console.clients["operator"]
    fields = {**rule_form(), "code": "to_change", "name": "待修改", "kind": "dynamic"}
    assert post(operator, "/profiles/segments", fields).status_code == 303
    size = segments.get_segment(console.engine, "to_change").size
    assert (
        post(
            console.clients["viewer"], "/profiles/segments/to_change/rule", rule_form(orders="3")
        ).status_code
        == 403
    )
    changed = post(operator, "/profiles/segments/to_change/rule", rule_form(orders="3"))
    assert changed.status_code == 303
    after = segments.get_segment(console.engine, "to_change")
    assert after.rule["all"][1]["value"] == 3 and (after.size or 0) < (size or 0)
    bad = post(operator, "/profiles/segments/to_change/rule", {**rule_form(), "value.r.1": "x"})
    assert bad.status_code == 400
    assert "rule.all[1].value: expected a whole number of 0 or more, got 'x'" in html.unescape(
        bad.text
    )
    assert segments.get_segment(console.engine, "to_change").rule == after.rule
    page = operator.get("/profiles/segments/to_change").text
    assert 'data-confirm="Delete the segment 待修改 and its member list?"' in page
    assert (
        post(console.clients["viewer"], "/profiles/segments/to_change/delete", {}).status_code
        == 403
    )
    gone = post(operator, "/profiles/segments/to_change/delete", {})
    assert gone.status_code == 303 and gone.headers["location"] == "/profiles/segments"
    assert operator.get("/profiles/segments/to_change").status_code == 404
    actions = [(e.action, e.target) for e in auth.list_audit_entries(console.engine, limit=100)]
    assert {
        ("segments.create", "to_change"),
        ("segments.update", "to_change"),
        ("segments.delete", "to_change"),
    } <= set(actions)


def test_dashboards_open_the_builder_on_a_group(console: Console) -> None:
    page = (
        console.clients["analyst"]
        .get("/profiles/segments/new", params={"tag": "rfm_group", "value": "important_winback"})
        .text
    )
    with console.app.state.runtime.warehouse() as wh:
        expected = segments.preview(
            wh,
            {"all": [{"tag": "rfm_group", "op": "=", "value": "important_winback"}]},
            today=today(),
        )
    assert preview_count(page) == expected.count
    assert 'id="save-segment"' in page  # analysts build, preview and save segments
    viewer = console.clients["viewer"].get("/profiles/segments").text
    assert 'id="new-segment"' not in viewer  # viewers look only


# The user 360 ---------------------------------------------------------------------------------


def test_the_360_masks_contact_below_admin(console: Console) -> None:
    with console.app.state.runtime.warehouse() as wh:
        found = user360.profile(console.engine, wh, "u000")
    for who in ("viewer", "analyst", "operator"):
        page = console.clients[who].get("/profiles/users/u000").text
        assert '<dd class="contact" id="trait-phone">138****0000</dd>' in page, who
        assert '<dd class="contact" id="trait-email">U***@Example.com</dd>' in page, who
        assert PHONE not in page and EMAIL not in page
    admin = console.clients["admin"].get("/profiles/users/u000").text
    assert f'id="trait-phone">{PHONE}<' in admin and f'id="trait-email">{EMAIL}<' in admin
    for tag in found.tags:
        assert f'data-tag="{tag.code}"' in admin
        assert tag.since is not None  # each value says since when the user has held it
        since = tag.since.astimezone(console.app.state.runtime.settings.tz)
        assert f'data-tag="{tag.code}" title="this value since {since:%Y-%m-%d %H:%M}"' in admin
    stage = found.as_json(reveal=True)["history"]["lifecycle_stage"]
    assert stage and f"{stage[0]['since']}" in admin
    # The signup time in the console's time zone, the day `created_at` rules count in.
    signed = found.traits["created_at"] if found.traits else None
    assert isinstance(signed, datetime)
    local = signed.astimezone(console.app.state.runtime.settings.tz)
    shown = admin.split('data-trait="created_at"', 1)[1].split("</dd>", 1)[0]
    assert shown.endswith(f"<dd>{local:%Y-%m-%d %H:%M:%S}")


def test_searching_users_by_role(console: Console) -> None:
    viewer, admin = console.clients["viewer"], console.clients["admin"]
    page = viewer.get("/profiles/users", params={"q": PHONE}).text
    results = page.split('id="search-results"', 1)[1]
    assert 'data-user="u000"' in results and "138****0000" in results and PHONE not in results
    assert 'data-user="u000"' not in viewer.get("/profiles/users", params={"q": PHONE[:6]}).text
    assert 'data-user="u000"' in admin.get("/profiles/users", params={"q": PHONE[:6]}).text
    many = viewer.get("/profiles/users", params={"q": "u00"}).text
    assert 'data-user="u001"' in many and 'data-user="u009"' in many
    exact = viewer.get("/profiles/users", params={"q": "u001"}, follow_redirects=False)
    assert exact.status_code == 303 and exact.headers["location"] == "/profiles/users/u001"
    assert viewer.get("/profiles/users/nobody-at-all").status_code == 404


def test_the_timeline_pages_in_place(console: Console) -> None:
    viewer = console.clients["viewer"]
    with console.app.state.runtime.warehouse() as wh:
        first = user360.timeline(wh, "u000", limit=20)
        second = user360.timeline(wh, "u000", limit=20, offset=20)
    page = viewer.get("/profiles/users/u000").text
    assert [m for m in re.findall(r'data-message="([^"]+)"', page)] == [
        e["message_id"] for e in first.events
    ]
    if first.has_more:
        fragment = viewer.get(
            "/profiles/users/u000/timeline?page=2", headers={"HX-Request": "true"}
        )
        assert fragment.text.lstrip().startswith('<section class="panel" id="user-timeline">')
        assert re.findall(r'data-message="([^"]+)"', fragment.text) == [
            e["message_id"] for e in second.events
        ]


# Roles and messages -------------------------------------------------------------------------

WHO = ("anonymous", "viewer", "analyst", "operator", "admin")
# method, route path, request path, expected codes for WHO (writes carry a CSRF token)
ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", "/profiles", "/profiles", "303 200 200 200 200"),
    ("POST", "/profiles/refresh", "/profiles/refresh", "303 403 403 303 303"),
    ("GET", "/profiles/refresh/runs/{run_id}", "/profiles/refresh/runs/1", "303 200 200 200 200"),
    ("GET", "/profiles/tags/{code}", "/profiles/tags/value_grade", "303 200 200 200 200"),
    (
        "POST",
        "/profiles/tags/{code}/preview",
        "/profiles/tags/value_grade/preview",
        "303 403 200 200 200",
    ),
    ("POST", "/profiles/tags/{code}/params", "/profiles/tags/nope/params", "303 403 403 404 404"),
    ("POST", "/profiles/tags/{code}/rule", "/profiles/tags/nope/rule", "303 403 403 404 404"),
    ("POST", "/profiles/tags/{code}/active", "/profiles/tags/nope/active", "303 403 403 404 404"),
    ("GET", "/profiles/rule-tags/new", "/profiles/rule-tags/new", "303 403 403 200 200"),
    ("POST", "/profiles/rule-tags/preview", "/profiles/rule-tags/preview", "303 403 200 200 200"),
    ("POST", "/profiles/rule-tags", "/profiles/rule-tags", "303 403 403 400 400"),
    ("GET", "/profiles/rfm", "/profiles/rfm", "303 200 200 200 200"),
    ("GET", "/profiles/lifecycle", "/profiles/lifecycle", "303 200 200 200 200"),
    ("GET", "/profiles/grades", "/profiles/grades", "303 200 200 200 200"),
    ("GET", "/profiles/migration", "/profiles/migration", "303 200 200 200 200"),
    ("GET", "/profiles/segments", "/profiles/segments", "303 200 200 200 200"),
    ("GET", "/profiles/segments/new", "/profiles/segments/new", "303 403 200 200 200"),
    ("POST", "/profiles/segments/preview", "/profiles/segments/preview", "303 403 200 200 200"),
    ("POST", "/profiles/segments/builder", "/profiles/segments/builder", "303 403 200 200 200"),
    ("POST", "/profiles/segments", "/profiles/segments", "303 403 400 400 400"),
    ("GET", "/profiles/segments/{code}", "/profiles/segments/nope", "303 404 404 404 404"),
    (
        "POST",
        "/profiles/segments/{code}/rule",
        "/profiles/segments/nope/rule",
        "303 403 404 404 404",
    ),
    (
        "POST",
        "/profiles/segments/{code}/delete",
        "/profiles/segments/nope/delete",
        "303 403 303 303 303",
    ),
    (
        "GET",
        "/profiles/segments/{code}/export.csv",
        "/profiles/segments/nope/export.csv",
        "303 404 404 404 404",
    ),
    ("GET", "/profiles/users", "/profiles/users", "303 200 200 200 200"),
    (
        "GET",
        "/profiles/users/{user_id:path}/timeline",
        "/profiles/users/u001/timeline",
        "303 303 303 303 303",
    ),
    ("GET", "/profiles/users/{user_id:path}", "/profiles/users/u001", "303 200 200 200 200"),
]


def test_every_profiles_route_is_in_the_table() -> None:
    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                yield from walk(route.original_router.routes)

    registered = {
        (method, route.path)
        for route in walk(list(web_profiles.router.routes))
        for method in route.methods - {"HEAD"}
    }
    assert registered == {(method, path) for method, path, *_ in ROUTES}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "_route", "path", "codes"), ROUTES)
def test_access(
    console: Console, who: str, method: str, _route: str, path: str, codes: str
) -> None:
    client = console.client(who)
    expected = int(codes.split()[WHO.index(who)])
    if method == "GET":
        response = client.get(path, follow_redirects=False)
    else:
        page = "/login" if who == "anonymous" else "/logout"
        data = {"csrf_token": csrf_token(client, page)}
        if path == "/profiles/refresh":
            data["tag"] = "intent_level"  # one tag, not a full run
        response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == expected, (who, method, path, response.text[:300])
    if who == "anonymous":
        assert response.headers["location"].startswith("/login")


def test_every_profiles_message_is_translated() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(
            re.findall(r"""\bt\(\s*["'](profiles\.[\w.]+)["']\s*[,)]""", template.read_text())
        )
    for source in (Path(web_profiles.__file__).parent).glob("*.py"):
        used |= set(re.findall(r'"(profiles\.[a-z_]+\.[\w.]+)"', source.read_text()))
    # keys the templates build from a value
    used |= {
        f"profiles.tab.{tab}"
        for tab in ("tags", "rfm", "lifecycle", "grades", "migration", "segments", "users")
    }
    used |= {f"profiles.run.{s}" for s in ("running", "succeeded", "failed", "interrupted")}
    used |= {f"profiles.type.{v}" for v in TAG_VALUE_TYPES} | {
        f"profiles.kind.{k}" for k in TAG_KINDS
    }
    used |= {f"profiles.schedule.{s}" for s in REFRESH_SCHEDULES}
    used |= {f"profiles.rfm.action.{label.code}" for label in GROUPS.values()}
    used |= {f"profiles.lifecycle.{part}.{s.code}" for s in STAGES for part in ("rule", "action")}
    used |= {f"profiles.grades.action.{g}" for g in "SABCD"}
    used |= {f"profiles.segment.kind.{k}" for k in ("dynamic", "static")}
    used |= {f"profiles.builder.kind.{k}" for k in builder.LEAF_KINDS}
    used |= {f"profiles.builder.group.{k}" for k in builder.GROUP_KINDS}
    used |= {f"profiles.trait.{f}" for f in (*TRAIT_FIELDS, *user360.TRAITS)}
    used |= {f"profiles.measure.{m}" for m in MEASURES}
    used |= {f"profiles.op.{key}" for key in builder.OP_KEYS.values()}
    used |= {f"profiles.user.score.{k}" for k in "rfm"}
    rows = [
        ("trait", "city", "in", ""),
        ("trait", "created_at", "=", ""),
        ("trait", "birthday", "=", ""),
        ("trait", "age", "=", ""),
        ("trait", "city", "=", ""),
        ("event", "x", ">", "last_time"),
        ("event", "x", ">", "count"),
        ("tag", "x", "=", ""),
    ]
    for kind, name, op, measure in rows:
        node = builder.Node("r.0", kind, field=name, op=op, measure=measure)
        used.add(builder.hint(node))
    assert used and used - set(EN) == set() and used - set(ZH_CN) == set()


def test_timeline_properties_read_as_json_values() -> None:
    """A null, a boolean, an object: as the JSON the event carried, not Python's None/True."""
    from userops.web.rendering import templates

    event = {
        "message_id": "m1", "event": "level_change", "type": "track", "anonymous_id": None,
        "revenue": None, "at": datetime(2026, 11, 1, tzinfo=UTC),
        "properties": {"from_level": None, "first": True, "to": "gold", "tiers": [1, 2],
                       "meta": {"a": "<b>"}},
    }  # fmt: skip
    html_text = templates.env.get_template("profiles/_timeline.html").render(
        events=[event], timeline=SimpleNamespace(has_more=False), page=1, base="/x",
        t=lambda key, **_: key, localtime=lambda at, fmt: at.strftime(fmt),
    )  # fmt: skip
    props = html_text.split('<code class="props">', 1)[1].split("</code>", 1)[0]
    assert props == (
        'from_level=null, first=true, to=gold, tiers=[1, 2], meta={"a": "\\u003cb\\u003e"}'
    )
