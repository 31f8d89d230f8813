"""The CLI face: `userops segment preview|create|list|show|update|export|delete|refresh` with
--json, and `tags import` (mounted by the tags group; here on a Typer app of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tests.profiles.segment_data import add_tag
from userops.cli import app
from userops.cli import segments as cli
from userops.errors import ConflictError, InputError
from userops.ingest.pipeline import import_files
from userops.membership import open_database
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, warehouse_session

runner = CliRunner()
TODAY = "2026-11-20"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", timezone="Asia/Shanghai")
    users = pd.DataFrame(
        {"user_id": ["a", "b", "c"], "city": ["上海", "O'Brien", None], "vip": ["1", "", "1"]}
    )
    events = pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m3"],
            "type": ["track"] * 3,
            "event": ["purchase", "purchase", "app_open"],
            "user_id": ["a", "a", "b"],
            "timestamp": [
                "2026-11-19T10:00:00+08:00",
                "2026-11-01T10:00:00+08:00",
                "2026-11-20T23:59:00+08:00",
            ],
        }
    )
    users.to_csv(tmp_path / "users.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    with warehouse_session(settings) as wh:
        init_warehouse(wh)
        import_files(wh, "users", [tmp_path / "users.csv"], quarantine_dir=tmp_path / "q")
        import_files(wh, "events", [tmp_path / "events.csv"], quarantine_dir=tmp_path / "q")
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return settings


def invoke(*args: str, stdin: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def rule_file(tmp_path: Path, rule: Any, name: str = "rule.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rule, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_preview_json_shape(settings: Settings, tmp_path: Path) -> None:
    path = rule_file(tmp_path, {"event": "purchase", "within_days": 30})
    assert invoke("segment", "preview", "--rule", path, "--today", TODAY, "--json") == {
        "count": 1,
        "sample": ["a"],
    }
    everyone = {"not": {"event": "purchase", "op": ">=", "value": 2}}
    out = invoke(
        "segment", "preview", "--rule", "-", "--today", TODAY, "--json", stdin=json.dumps(everyone)
    )
    assert out == {"count": 2, "sample": ["b", "c"]}
    text = invoke("segment", "preview", "--rule", path, "--today", TODAY)
    assert "1 users" in text and "a" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"trait": "city", "op": "=="}', "rule.op: unknown operator '=='"),
        (
            "{not json",
            "--rule {path}: not JSON (Expecting property name enclosed in double quotes at line 1)",
        ),
        ("[" * 100_000 + "]" * 100_000, "--rule {path}: the JSON nests too deeply"),
        ('{"trait": "traits.x", "op": ">", "value": NaN}', "rule.value: numbers must be finite"),
    ],
)
def test_bad_rule_files(settings: Settings, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        invoke("segment", "preview", "--rule", str(path), "--json")
    assert str(caught.value).startswith(message.format(path=path)), str(caught.value)


def test_segment_commands(settings: Settings, tmp_path: Path) -> None:
    buyers = rule_file(tmp_path, {"event": "purchase"})
    made = invoke(
        "segment",
        "create",
        "--code",
        "buyers",
        "--name",
        "买家",
        "--rule",
        buyers,
        "--today",
        TODAY,
        "--json",
    )
    assert made["kind"] == "dynamic" and made["size"] == 1 and made["owner"] == "cli"
    frozen = invoke(
        "segment",
        "create",
        "--code",
        "frozen",
        "--name",
        "冻结",
        "--rule",
        buyers,
        "--static",
        "--today",
        TODAY,
        "--json",
    )
    assert frozen["kind"] == "static" and frozen["source"] == f"rule, evaluated on {TODAY}"
    users = tmp_path / "list.csv"
    users.write_text("user_id\nc\nx9\n", encoding="utf-8")
    listed = invoke(
        "segment", "create", "--code", "list", "--name", "名单", "--users", str(users), "--json"
    )
    assert listed["size"] == 2 and listed["source"] == "upload: list.csv"
    with pytest.raises(ConflictError, match="segment 'buyers' already exists"):
        invoke("segment", "create", "--code", "buyers", "--name", "x", "--rule", buyers)
    with pytest.raises(InputError, match="give either --rule FILE or --users FILE"):
        invoke("segment", "create", "--code", "y", "--name", "y")

    assert [s["code"] for s in invoke("segment", "list", "--json")] == ["buyers", "frozen", "list"]
    assert "buyers" in invoke("segment", "list") and "dynamic" in invoke("segment", "list")
    assert invoke("segment", "show", "list", "--json")["size"] == 2
    wider = rule_file(tmp_path, {"any": [{"event": "purchase"}, {"segment": "list"}]}, "wider.json")
    assert (
        invoke("segment", "update", "buyers", "--rule", wider, "--today", TODAY, "--json")["size"]
        == 2
    )

    # (CliRunner reads stdout with universal newlines; the file below keeps CSV's \r\n)
    assert invoke("segment", "export", "buyers") == "user_id\na\nc\n"
    out = tmp_path / "out" / "buyers.csv"
    out.parent.mkdir()
    assert "2 user ids written" in invoke("segment", "export", "buyers", "--out", str(out))
    assert out.read_bytes() == b"user_id\r\na\r\nc\r\n"

    assert invoke("segment", "refresh", "--today", TODAY, "--json") == {"buyers": 2}
    with pytest.raises(ConflictError, match="used by segment\\(s\\) buyers"):
        invoke("segment", "delete", "list")
    assert "deleted" in invoke("segment", "delete", "buyers")
    assert [s["code"] for s in invoke("segment", "list", "--json")] == ["frozen", "list"]


def test_tag_import_command(settings: Settings, tmp_path: Path) -> None:
    with open_database(settings) as engine:
        add_tag(engine, "crm_level", kind="imported", value_type="enum")
    tags = typer.Typer()
    cli.register_tag_import(tags)
    tags.command("noop")(lambda: None)  # a group of one command would collapse into it
    file = tmp_path / "crm.csv"
    file.write_text("user_id,value\na,金卡\nghost,银卡\n", encoding="utf-8")
    result = runner.invoke(tags, ["import", "crm_level", str(file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"tag": "crm_level", "rows": 2, "unknown_users": 1}
    rule = rule_file(tmp_path, {"tag": "crm_level", "op": "=", "value": "金卡"})
    assert invoke("segment", "preview", "--rule", rule, "--json") == {"count": 1, "sample": ["a"]}


def test_an_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"all": [{"trait": "city", "op": "like", "value": "x"}]}')
    env = {**os.environ, "USEROPS_DATA_DIR": str(tmp_path / "data")}
    with warehouse_session(Settings(data_dir=tmp_path / "data")) as wh:
        init_warehouse(wh)
    done = subprocess.run(
        [sys.executable, "-m", "userops", "segment", "preview", "--rule", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: rule.all[0].op: unknown operator 'like'; expected one of =, !=, in, not_in, "
        "between, <, <=, >, >=, is_set, not_set"
    ]
