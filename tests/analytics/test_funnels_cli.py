"""`userops metrics funnel` through Typer's test runner, mounted both ways the lead may choose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conformance.datasets import END, START, hard_events, load_duckdb
from userops.analytics.filters import PropertyFilter
from userops.analytics.funnels import FunnelSpec, FunnelStep, funnel, parse_funnel_where
from userops.cli import funnel as funnel_cli
from userops.errors import InputError
from userops.settings import Settings, get_settings
from userops.warehouse.connection import open_warehouse

RANGE = ["--from", START.isoformat(), "--to", END.isoformat()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = load_duckdb(hard_events(21), tmp_path_factory.mktemp("funnel-cli"))
    return settings.data_dir


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """A `metrics` group with the funnel command registered, over the test warehouse."""
    monkeypatch.setenv("USEROPS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("USEROPS_TIMEZONE", "Asia/Shanghai")
    get_settings.cache_clear()
    metrics = typer.Typer()
    funnel_cli.register(metrics)
    metrics.command("other")(lambda: None)  # a group of several commands, like `metrics`
    yield metrics
    get_settings.cache_clear()


def _expected(data_dir: Path, spec: FunnelSpec) -> dict[str, object]:
    with open_warehouse(Settings(data_dir=data_dir), read_only=True) as wh:
        return funnel(wh, spec).as_json()


def test_json_is_the_results_json(cli: typer.Typer, data_dir: Path) -> None:
    args = ["funnel", "--steps", "open,view,cart", "--window", "1d", *RANGE, "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    spec = FunnelSpec.of(["open", "view", "cart"], start=START, end=END, window="1d")
    assert body == _expected(data_dir, spec)
    assert [s["event"] for s in body["steps"]] == ["open", "view", "cart"]
    assert body["steps"][0]["count"] > 0


def test_step_filters_breakdown_and_dropped_users(cli: typer.Typer, data_dir: Path) -> None:
    args = [
        "funnel",
        "-s",
        "view, cart",
        "--order",
        "strict",
        "--by",
        "channel",
        "--where",
        "1:category=phone",
        "--where",
        "channel!=referral",
        "--dropped-at",
        "2",
        *RANGE,
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["steps"][0]["label"] == "view[prop.category=phone]"
    assert body["filters"] == ["channel!=referral"] and body["by"] == "channel"
    assert len(body["dropped_users"]) == body["steps"][0]["count"] - body["steps"][1]["count"]
    assert {g["key"] for g in body["breakdown"]} <= {"ads", "social", None}


def test_table_output(cli: typer.Typer) -> None:
    args = ["funnel", "--steps", "open,view", *RANGE, "--by", "city", "--dropped-at", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "of step 1" in result.stdout and "median time" in result.stdout
    assert "(not set)" in result.stdout and "dropped at step 2" in result.stdout


def test_the_sub_app_mounts_as_one_command(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USEROPS_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        metrics = typer.Typer()
        metrics.command("other")(lambda: None)
        metrics.add_typer(funnel_cli.app, name="funnel")
        result = CliRunner().invoke(metrics, ["funnel", "--steps", "open,view", *RANGE, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["order"] == "ordered"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "open"], "a funnel has 2 to 20 steps, not 1"),
        (["--steps", "open,,view"], "step 2 has no event name"),
        (["--steps", "open,view", "--window", "7 days"], "is not a duration"),
        (["--steps", "open,view", "--order", "loose"], "order 'loose' is not one of"),
        (["--steps", "open,view", "--where", "3:price>5"], "the funnel has steps 1 to 2, not 3"),
        (["--steps", "open,view", "--by", "shoe_size"], "unknown breakdown field"),
        (["--steps", "open,view", "--from", "10/11/2026"], "is not a date"),
        (["--steps", "open,view", "--dropped-at", "1"], "step 1 is not a step of this funnel"),
    ],
)
def test_bad_input_is_one_clear_error(cli: typer.Typer, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["funnel", *args, *RANGE[:0]])
    assert isinstance(result.exception, InputError), result.output
    assert message in str(result.exception)


def test_where_parsing() -> None:
    common, per_step = parse_funnel_where(
        ["channel=ads", "2:category=phone", "2: prop.price>=50", "prop.os=ios"], 3
    )
    assert [str(f) for f in common.traits] == ["channel=ads"]
    assert [str(f) for f in common.properties] == ["prop.os=ios"]
    assert per_step == {
        2: (PropertyFilter("category", "=", ("phone",)), PropertyFilter("price", ">=", ("50",)))
    }
    assert FunnelStep("view", per_step[2]).label == "view[prop.category=phone; prop.price>=50]"
    with pytest.raises(InputError, match="not 0"):
        parse_funnel_where(["0:category=x"], 3)
