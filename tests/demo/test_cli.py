"""`userops demo generate` through Typer's test runner."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from typer.testing import CliRunner

from userops.cli.demo import app
from userops.errors import InputError
from userops.settings import get_settings

ARGS = ["generate", "--users", "200", "--days", "14", "--seed", "3", "--end", "2025-11-30"]


def test_json_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"users_path", "events_path", "items_path", "users", "events", "items"}
    assert summary["users"] == 200 and summary["items"] == 480 and summary["events"] > 0
    assert Path(summary["events_path"]) == tmp_path / "events.parquet"
    assert Path(summary["events_path"]).is_file()


def test_one_line_summary_and_format(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "200 users" in result.stdout and str(tmp_path / "events.jsonl") in result.stdout
    assert (tmp_path / "users.jsonl").is_file()


def test_bad_end_date_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS[:-2], "--end", "30/11/2025", "--out", str(tmp_path)])
    assert isinstance(result.exception, InputError)
    assert "YYYY-MM-DD" in str(result.exception)


def test_bad_format_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--format", "xml"])
    assert isinstance(result.exception, InputError)


def test_end_defaults_to_today_in_the_configured_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USEROPS_TIMEZONE", "Pacific/Kiritimati")  # UTC+14: often "tomorrow"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["generate", "--users", "50", "--days", "2", "--out", str(tmp_path)]
        )
        assert result.exit_code == 0, result.output
        tz = ZoneInfo("Pacific/Kiritimati")
        today = datetime.now(tz).date()
        local = pd.read_parquet(tmp_path / "events.parquet")["timestamp"].dt.tz_convert(tz)
        assert {d for d in local.dt.date} <= {today - timedelta(days=1), today}
        assert local.max().date() == today
    finally:
        get_settings.cache_clear()
