"""The CLI face: `userops points|levels|rules ...` with --json, replays, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from userops.cli import app
from userops.cli import membership as cli
from userops.errors import InputError
from userops.settings import Settings

runner = CliRunner()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> Any:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=migrated_url, timezone="Asia/Shanghai"
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def invoke(*args: str) -> Any:
        result = runner.invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    return invoke


@pytest.mark.slow
def test_points_commands(run: Any) -> None:
    done = run("points", "award", "u1", "100", "--key", "k1", "--expiry", "days:30", "--json")
    assert done["balance"]["available"] == 100 and not done["replayed"]
    assert run("points", "award", "u1", "100", "--key", "k1", "--json")["replayed"]
    spent = run("points", "redeem", "u1", "30", "--key", "r1", "--reference", "o1", "--json")
    assert spent["entries"][0]["amount"] == -30
    back = run("points", "reverse", "u1", "--key", "v1", "--order", "o1", "--json")
    assert back["balance"]["available"] == 100
    assert run("points", "balance", "u1", "--json")["available"] == 100
    assert "100" in run("points", "balance", "u1")
    assert len(run("points", "history", "u1", "--json")) == 3
    taken = run("points", "adjust", "--key", "a1", "--reason", "fix", "--json", "u1", "--", "-10")
    assert taken["balance"]["available"] == 90
    assert run(
        "points", "campaign", "--key", "c1", "--amount", "5", "--users", "u1,u2", "--json"
    ) == {"awarded": 2, "already": 0, "points": 10}
    assert run("points", "expire", "--json") == {"users": 0, "points": 0}
    report = run("points", "economy", "--from", "2020-01-01", "--json")
    assert report["total"]["outstanding"] == 100
    with pytest.raises(InputError, match="95 points available"):
        run("points", "redeem", "u1", "1000", "--key", "r2")


@pytest.mark.slow
def test_levels_and_rules_commands(run: Any) -> None:
    run(
        "levels",
        "create",
        "vip",
        "--level",
        "l1:L1:0",
        "--level",
        "l2:L2:100",
        "--level",
        "black:Black:0:invite",
        "--policy",
        "up_down",
        "--window-months",
        "12",
        "--keep-days",
        "30",
        "--notice-days",
        "7",
    )
    assert run("levels", "list", "--json")[0]["keep_days"] == 30
    rule = run(
        "rules",
        "create",
        "buy",
        "--event",
        "purchase",
        "--points",
        "per_amount:1",
        "--growth",
        "fixed:150",
        "--cap-day",
        "500",
        "--filter",
        "revenue>0",
        "--json",
    )
    assert rule["points"] == {"mode": "per_amount", "value": 1, "unit_cents": 100}
    assert run("rules", "list", "--json")[0]["filters"][0]["op"] == "gt"
    run("rules", "pause", "buy")
    assert run("rules", "resume", "buy", "--json")["is_active"] is True
    run("points", "award", "u1", "1", "--key", "k")  # so u1 is known
    evaluated = run("levels", "evaluate", "--date", "2026-05-01", "--no-publish", "--json")
    assert evaluated["users"] == 0  # nobody has growth value yet
    assigned = run("levels", "assign", "u1", "--scheme", "vip", "--level", "black", "--json")
    assert assigned["level"] == "black"
    assert run("levels", "show", "u1", "--scheme", "vip", "--json")["assigned"]
    assert run("levels", "history", "u1", "--json")[0]["kind"] == "assigned"
    with pytest.raises(InputError, match="CODE:NAME:THRESHOLD"):
        run("levels", "create", "bad", "--level", "x")


def test_out_of_range_options_are_refused_and_store_nothing(run: Any) -> None:
    """The same bounds as the API: each of these overflowed a date, a timedelta or a 64-bit
    integer column (a traceback instead of a one-line error)."""
    big = str(2**70)
    out = "is out of range (1970-01-01 to 2200-12-31)"
    rule = ("rules", "create", "r", "--event", "e", "--points")
    cases: list[tuple[tuple[str, ...], str]] = [
        (("points", "award", "u1", "1", "--key", "a", "--maturity-days", "3000000"),
         "maturity must be 0 to 3650 days, not 3000000"),
        (("points", "award", "u1", "1", "--key", "b", "--at", "9999-12-31T00:00:00+00:00"),
         f"the time of the write (at) 9999-12-31T00:00:00+00:00 {out}"),
        (("points", "campaign", "--key", "c", "--amount", "5", "--users", "u1",
          "--expiry", "year_end:99999"), "expiry year_end:99999: the number must be at most 100"),
        (("points", "economy", "--from", "0001-01-01", "--to", "9999-12-31"),
         f"the report's first day (from) 0001-01-01 {out}"),
        (("levels", "create", "big", "--level", "a:A:0", "--level", f"b:B:{big}"),
         f"level thresholds must be at most 1000000000000: level 'b' has {big}"),
        (("levels", "evaluate", "--date", "9999-12-31", "--no-publish"),
         f"the evaluation day 9999-12-31 {out}"),
        ((*rule, "fixed:1", "--cap-day", big), f"cap must be 0 to 1000000000000, not {big}"),
        ((*rule, f"per_amount:1/{big}"), "the amount unit must be 1 to 1000000000000 cents"),
        ((*rule, "fixed:1", "--maturity-days", "1000000000"), "maturity must be 0 to 3650 days"),
        (("badges", "create", "b", "--kind", "event_count", "--event", "e", "--tier", f"{big}:x"),
         "tier thresholds must be at most 1000000000000"),
        (("boards", "show", "lb", "--date", "0001-01-01"), f"the leaderboard day 0001-01-01 {out}"),
    ]  # fmt: skip
    for args, problem in cases:
        with pytest.raises(InputError) as refused:
            run(*args)
        assert problem in str(refused.value), args
    assert run("points", "history", "u1", "--json") == []
    assert run("levels", "list", "--json") == [] and run("rules", "list", "--json") == []


@pytest.mark.slow
def test_errors_are_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "USEROPS_DATA_DIR": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "userops", "points", "redeem", "u1", "5", "--key", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "0 points available, 5 requested" in lines[0]
