"""Imported tags: a CSV of user_id,value per value type, all rows or none, unknown users kept
and counted, and the values then usable in rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.profiles.segment_data import TODAY, ProfileWorld, add_tag, zone_world
from userops.errors import InputError, NotFoundError
from userops.profiles import imported, segments, tagvalues
from userops.store.db import make_engine, session_scope
from userops.store.migrate import upgrade
from userops.store.models import TagDefinition


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ProfileWorld:
    return zone_world(request, tmp_path_factory)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    engine = make_engine(url)
    add_tag(
        engine,
        "imp_level",
        kind="imported",
        value_type="enum",
        definition={"values": ["金卡", "银卡"]},
    )
    add_tag(engine, "imp_score", kind="imported", value_type="number")
    add_tag(engine, "imp_flag", kind="imported", value_type="boolean")
    add_tag(engine, "imp_day", kind="imported", value_type="date")
    add_tag(engine, "imp_text", kind="imported", value_type="enum")
    add_tag(engine, "rfm_group", kind="computed")
    yield engine
    engine.dispose()


def values(pw: ProfileWorld, code: str) -> dict[str, tuple[str, float | None]]:
    rows = pw.wh.sql("SELECT user_id, value, number FROM tag_values WHERE tag = ?", [code])
    return {u: (v, n) for u, v, n in rows}


def load(engine: Engine, pw: ProfileWorld, code: str, text: str) -> imported.TagImport:
    return imported.import_tag_values(
        engine, pw.wh, code=code, lines=text.splitlines(keepends=True), name="f.csv", actor="t"
    )


def test_import_replaces_the_values(pw: ProfileWorld, engine: Engine) -> None:
    first = load(
        engine, pw, "imp_level", "\ufeffuser_id,value,extra\nu1,金卡,x\nu2,银卡,y\nghost9,金卡,z\n"
    )
    assert first.as_json() == {"tag": "imp_level", "rows": 3, "unknown_users": 1}
    assert values(pw, "imp_level") == {
        "u1": ("金卡", None),
        "u2": ("银卡", None),
        "ghost9": ("金卡", None),
    }
    second = load(engine, pw, "imp_level", "value,user_id\n银卡,u3\n")
    assert second.rows == 1 and values(pw, "imp_level") == {"u3": ("银卡", None)}
    with session_scope(engine, read_only=True) as session:
        tag = session.scalar(select(TagDefinition).where(TagDefinition.code == "imp_level"))
        assert tag is not None and tag.tagged_users == 1 and tag.refreshed_at is not None
    # The day's snapshot follows the import (history and migration see imported tags).
    (day,) = tagvalues.snapshot_dates(pw.wh, "imp_level")
    snapshot = tagvalues.snapshot(pw.wh, "imp_level", day).to_pyarrow().to_pylist()
    assert [(r["user_id"], r["value"]) for r in snapshot] == [("u3", "银卡")]
    # The values are what rules read.
    rule = {"tag": "imp_level", "op": "=", "value": "银卡"}
    assert segments.preview(pw.wh, rule, today=TODAY, engine=engine).as_json() == {
        "count": 1,
        "sample": ["u3"],
    }


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (
            "imp_score",
            "user_id,value\nu1,3\nu2,-1.5\nu3,1e3\n",
            {"u1": ("3", 3.0), "u2": ("-1.5", -1.5), "u3": ("1000", 1000.0)},
        ),
        (
            "imp_flag",
            "user_id,value\nu1,TRUE\nu2,0\nu3,yes\n",
            {"u1": ("true", None), "u2": ("false", None), "u3": ("true", None)},
        ),
        ("imp_day", "user_id,value\nu1,2026-02-28\n", {"u1": ("2026-02-28", None)}),
        (
            "imp_text",
            'user_id,value\nu1,"O\'Brien, ""路"""\nu2,\'; DROP TABLE tag_values; --\n',
            {"u1": ('O\'Brien, "路"', None), "u2": ("'; DROP TABLE tag_values; --", None)},
        ),
    ],
)
def test_value_types(
    pw: ProfileWorld,
    engine: Engine,
    code: str,
    text: str,
    expected: dict[str, tuple[str, float | None]],
) -> None:
    load(engine, pw, code, text)
    assert values(pw, code) == expected


@pytest.mark.parametrize(
    ("code", "text", "message"),
    [
        (
            "imp_score",
            "user_id,value\nu1,3\nu2,abc\nu3,nan\nu4,1e400\n,4\n",
            "f.csv: 4 bad row(s), nothing imported: line 3: value 'abc' is not a number; "
            "line 4: value 'nan' is not a finite number within ±1e+15; "
            "line 5: value '1e400' is not a finite number within ±1e+15; line 6: user_id is empty",
        ),
        (
            "imp_score",
            "user_id,value\nu1,1_000\n",
            "f.csv: 1 bad row(s), nothing imported: line 2: value '1_000' is not a number",
        ),
        (
            "imp_flag",
            "user_id,value\nu1,maybe\n",
            "f.csv: 1 bad row(s), nothing imported: line 2: value 'maybe' is not true or false",
        ),
        (
            "imp_day",
            "user_id,value\nu1,2026-02-30\n",
            "line 2: value '2026-02-30' is not a date (YYYY-MM-DD)",
        ),
        ("imp_level", "user_id,value\nu1,铜卡\n", "line 2: value '铜卡' is not one of 金卡, 银卡"),
        (
            "imp_text",
            "user_id,value\nu1,a\nu1,b\n",
            "line 3: user 'u1' already has a value on line 2",
        ),
        ("imp_text", "user_id,value\nu1,\n", "line 2: value is empty"),
        (
            "imp_text",
            "user_id,value\nu1," + "x" * 201 + "\n",
            "line 2: value has 201 characters; at most 200",
        ),
        (
            "imp_text",
            "user,value\nu1,a\n",
            "f.csv: the header has no user_id column (found user, value)",
        ),
        ("imp_text", "", "f.csv: empty file; expected a header user_id,value"),
        ("imp_text", "user_id,value\n\n", "f.csv: no rows; the tag's values were left as they are"),
    ],
)
def test_bad_files_change_nothing(
    pw: ProfileWorld, engine: Engine, code: str, text: str, message: str
) -> None:
    load(
        engine,
        pw,
        code,
        "user_id,value\nkeep,1\n"
        if code in ("imp_score", "imp_flag")
        else "user_id,value\nkeep,金卡\n"
        if code == "imp_level"
        else "user_id,value\nkeep,2026-01-01\n",
    )
    before = values(pw, code)
    with pytest.raises(InputError) as caught:
        load(engine, pw, code, text)
    assert message in str(caught.value), str(caught.value)
    assert values(pw, code) == before


def test_many_bad_rows_are_summarised(pw: ProfileWorld, engine: Engine) -> None:
    text = "user_id,value\n" + "".join(f"u{i},x{i}\n" for i in range(50))
    with pytest.raises(InputError) as caught:
        load(engine, pw, "imp_score", text)
    message = str(caught.value)
    assert message.startswith("f.csv: 50 bad row(s), nothing imported: line 2:")
    assert "line 21:" in message and "line 22:" not in message and message.endswith("(and 30 more)")


def test_only_imported_tags_take_a_file(pw: ProfileWorld, engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="unknown tag 'nope'"):
        load(engine, pw, "nope", "user_id,value\nu1,a\n")
    with pytest.raises(
        InputError, match="tag 'rfm_group' is of kind 'computed'; only tags of kind 'imported'"
    ):
        load(engine, pw, "rfm_group", "user_id,value\nu1,a\n")
