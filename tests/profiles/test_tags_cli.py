"""The CLI faces: `userops tags ...` and `userops profile ...` with --json and tables, one-line
errors, and `userops init` seeding the built-in taxonomy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.profiles.conftest import TagWorld
from tests.profiles.tag_data import TODAY
from userops.cli import app
from userops.cli import tags as tags_cli
from userops.errors import InputError, NotFoundError
from userops.settings import Settings

runner = CliRunner()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, shanghai: TagWorld, tmp_path: Path) -> Any:
    data = tmp_path / "data"
    shutil.copytree(shanghai.settings.data_dir, data)
    settings = Settings(data_dir=data, timezone="Asia/Shanghai")
    monkeypatch.setattr(tags_cli, "get_settings", lambda: settings)

    def invoke(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    return invoke


def test_tags_commands(run: Any) -> None:
    listed = run("tags", "list", "--json")
    assert {t["code"] for t in listed} >= {"rfm_group", "rfm_r", "lifecycle_stage"}
    assert "rfm_group" in run("tags", "list", "--category", "value")
    assert "membership" in run("tags", "categories")
    day = TODAY.isoformat()
    first = run("tags", "refresh", "--date", day, "--json")
    assert first["status"] == "succeeded" and first["refreshed"] == len(listed)
    again = run("tags", "refresh", "--date", day)
    assert "unchanged" in again and f"{len(listed)} unchanged" in again
    only = run("tags", "refresh", "--date", day, "--tag", "rfm_m", "--force", "--json")
    assert list(only["tags"]) == ["rfm_m"] and only["refreshed"] == 1
    shown = run("tags", "show", "rfm_group", "--json")
    assert shown["params"]["scoring"] == "quantile"
    assert sum(d["users"] for d in shown["distribution"]) == shown["tagged_users"]
    assert "重要" in run("tags", "show", "rfm_group")
    described = run(
        "tags", "update", "rfm_group", "--description", "我们的 RFM", "--description-en", "Our RFM",
        "--name-en", "Our RFM groups", "--json",
    )  # fmt: skip
    assert (described["description"], described["description_en"]) == ("我们的 RFM", "Our RFM")
    assert described["name_en"] == "Our RFM groups"
    assert "Our RFM" in run("tags", "show", "rfm_group")
    cleared = run("tags", "update", "rfm_group", "--description-en", "", "--json")
    assert (cleared["description"], cleared["description_en"]) == ("我们的 RFM", None)
    changed = run(
        "tags", "set-params", "rfm_group", "--param", "scoring=threshold",
        "--param", "recency_edges=7,30,60,90", "--param", "r_cut=4", "--json",
    )  # fmt: skip
    params = changed["definition"]["params"]
    assert params["scoring"] == "threshold" and params["recency_edges"] == [7, 30, 60, 90]
    assert params["r_cut"] == 4
    runs = run("tags", "runs", "--json")
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert "rfm" in run("tags", "models")


def test_set_rule_replaces_a_rule_tags_rule(run: Any, tmp_path: Path) -> None:
    first = {"when": {"event": "purchase", "op": ">=", "value": 1}}
    run(
        "tags", "create", "buyer_cli", "--name", "买家", "--category", "behaviour",
        "--type", "boolean", "--kind", "rule", "--definition", json.dumps(first),
    )  # fmt: skip
    file = tmp_path / "rule.json"
    file.write_text(json.dumps({"when": {"event": "purchase", "op": ">=", "value": 3}}))
    done = run("tags", "set-rule", "buyer_cli", "--definition", f"@{file}", "--json")
    assert done["definition"]["when"]["value"] == 3
    with pytest.raises(InputError, match=r"definition\.when\.op: unknown operator"):
        run("tags", "set-rule", "buyer_cli", "--definition", '{"when": {"event": "x", "op": "~"}}')
    with pytest.raises(InputError, match="only rule tags have a rule"):
        run("tags", "set-rule", "rfm_group", "--definition", json.dumps(first))
    with pytest.raises(NotFoundError, match="no tag 'nope'"):
        run("tags", "set-rule", "nope", "--definition", json.dumps(first))
    assert run("tags", "show", "buyer_cli", "--json")["definition"]["when"]["value"] == 3


def test_set_params_from_a_file_and_refusals(run: Any, tmp_path: Path) -> None:
    file = tmp_path / "intent.json"
    file.write_text(json.dumps({"mapping": {"mystery": "strong"}, "default": "medium"}))
    done = run("tags", "set-params", "intent_level", "--file", str(file), "--replace", "--json")
    assert done["definition"]["params"] == {"mapping": {"mystery": "strong"}, "default": "medium"}
    with pytest.raises(InputError, match="'lookback_days'"):
        run("tags", "set-params", "rfm_group", "--param", "lookback_days=-1")
    with pytest.raises(InputError, match="KEY=VALUE"):
        run("tags", "set-params", "rfm_group", "--param", "lookback_days")
    with pytest.raises(InputError, match="give parameters"):
        run("tags", "set-params", "rfm_group")
    with pytest.raises(NotFoundError, match="no tag 'nope'"):
        run("tags", "show", "nope")
    with pytest.raises(InputError, match="not a date"):
        run("tags", "refresh", "--date", "yesterday")


def test_migration_and_profile_commands(run: Any) -> None:
    early = "2026-10-01"
    run("tags", "refresh", "--date", early, "--json")
    run("tags", "refresh", "--date", TODAY.isoformat(), "--json")
    moved = run("tags", "migration", "--tag", "lifecycle_stage", "--from", early, "--to",
                TODAY.isoformat(), "--json")  # fmt: skip
    assert moved["from"] == early and moved["users"] > 0
    table = run("tags", "migration", "--tag", "lifecycle_stage", "--from", early, "--to",
                TODAY.isoformat())  # fmt: skip
    assert "成长期" in table and "changed value" in table
    profile = run("profile", "show", "u000", "--json")
    assert profile["user_id"] == "u000" and profile["traits"]["phone"] == "138****0000"
    assert run("profile", "show", "u000", "--reveal", "--json")["traits"]["phone"] == "13800000000"
    shown = run("profile", "show", "u000", "--events", "3")
    assert "lifecycle_stage" in shown and "生命周期阶段" in shown
    page = run("profile", "timeline", "u000", "--limit", "2", "--offset", "1", "--json")
    assert page["offset"] == 1 and len(page["events"]) == 2
    found = run("profile", "search", "u00", "--json")
    assert found[0]["user_id"] == "u000" and found[0]["phone"] == "138****0000"
    assert "u000" in run("profile", "search", "13800000000")
    with pytest.raises(NotFoundError):
        run("profile", "show", "nobody")


def test_init_seeds_the_taxonomy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from userops.cli import setup

    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr(setup, "get_settings", lambda: settings)
    result = runner.invoke(app, ["init", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["builtin_tags"]["tags"] > 10
    again = runner.invoke(app, ["init", "--json"])
    assert json.loads(again.stdout)["builtin_tags"] == {"categories": 0, "tags": 0}


def test_rule_tags_from_the_command_line(run: Any, tmp_path: Path) -> None:
    run("tags", "add-category", "pets", "--name", "宠物")
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"when": {"tag": "lifecycle_stage", "op": "=", "value": "growth"}}))
    made = run("tags", "create", "growing", "--name", "成长中", "--category", "pets",
               "--type", "boolean", "--definition", f"@{rule}", "--json")  # fmt: skip
    assert made["kind"] == "rule" and made["definition"]["when"]["tag"] == "lifecycle_stage"
    done = run("tags", "refresh", "--date", TODAY.isoformat(), "--json")
    assert done["tags"]["growing"]["status"] == "refreshed"
    assert list(done["tags"]).index("growing") > list(done["tags"]).index("lifecycle_stage")
    off = run("tags", "update", "growing", "--inactive", "--owner", "运营", "--json")
    assert not off["is_active"] and off["owner"] == "运营"
    with pytest.raises(InputError, match="definition"):
        run("tags", "create", "bad", "--name", "x", "--category", "pets", "--type", "boolean",
            "--definition", '{"when": {"tag": "x", "op": "between"}}')  # fmt: skip
    run("tags", "delete", "growing")
    assert "growing" not in {t["code"] for t in run("tags", "list", "--json")}
