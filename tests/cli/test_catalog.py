"""The root command lists every command without importing their modules, and loads each one
when used: the same commands, helps and sub-commands as if everything were imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from userops.cli import app
from userops.cli.catalog import COMMANDS, load

HEAVY = ("ibis", "pandas", "duckdb", "sqlalchemy", "pyarrow", "uvicorn", "fastapi")


def test_root_help_lists_every_command_without_importing_the_heavy_stack() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from userops.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'], terminal_width=200)\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        f"print('HEAVY:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert "HEAVY: []" in done.stdout, done.stdout[-500:]
    for name, entry in COMMANDS.items():
        assert f" {name} " in done.stdout
        assert entry.help.split()[0] in done.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_loads_with_the_catalogue_help(name: str) -> None:
    command = load(name)
    assert command.name == name
    assert command.help == COMMANDS[name].help
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"userops {name}" in result.output or name in result.output


@pytest.mark.parametrize(
    ("group", "sub"),
    [("metrics", "funnel"), ("metrics", "retention"), ("tags", "import"), ("points", "award")],
)
def test_commands_mounted_from_other_modules_are_there(group: str, sub: str) -> None:
    result = CliRunner().invoke(app, [group, sub, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("typo", "meant"), [("keyz", "keys"), ("metric", "metrics")])
def test_an_unknown_command_is_refused_with_a_suggestion(typo: str, meant: str) -> None:
    result = CliRunner().invoke(app, [typo], terminal_width=200)
    assert result.exit_code == 2
    assert f"No such command '{typo}'" in result.output
    assert f"Did you mean '{meant}'" in result.output
