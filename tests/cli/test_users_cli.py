"""`userops users ...`: operator accounts from the command line, with the audit log saying the
CLI did it, one-line refusals and nothing stored by a refused command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.web.support import cheap_password_hashing
from userops.cli import app
from userops.cli import users as users_cli
from userops.errors import InputError
from userops.services import auth
from userops.settings import Settings

runner = CliRunner()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr(users_cli, "get_settings", lambda: settings)

    def invoke(*args: str, stdin: str | None = None) -> Any:
        result = runner.invoke(app, list(args), input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    invoke.settings = settings  # type: ignore[attr-defined]
    with cheap_password_hashing():
        yield invoke


def accounts(run: Any) -> dict[str, tuple[str, bool]]:
    return {o["username"]: (o["role"], o["is_active"]) for o in run("users", "list", "--json")}


def test_accounts_from_the_command_line(run: Any) -> None:
    assert "no operators yet" in run("users", "list")
    made = run("users", "create-admin", "--username", "boss", "--password", "boss-pass-1", "--json")
    assert (made["username"], made["role"]) == ("boss", "admin")
    assert "created viewer watcher" in run(
        "users", "create", "watcher", "--password-stdin", stdin="watcher-pass-1\n"
    )
    run("users", "create", "ana", "--role", "analyst", "--password", "ana-pass-12")
    assert accounts(run) == {
        "boss": ("admin", True),
        "watcher": ("viewer", True),
        "ana": ("analyst", True),
    }
    assert "is now operator" in run("users", "set-role", "ana", "operator")
    assert "can no longer sign in" in run("users", "deactivate", "watcher")
    assert accounts(run)["watcher"] == ("viewer", False)
    assert "can sign in again" in run("users", "reactivate", "watcher")
    assert "password of ana changed" in run(
        "users", "set-password", "ana", "--password", "n3w-pass-99"
    )
    with auth.app_database(run.settings) as engine:
        assert auth.authenticate(engine, username="ana", password="n3w-pass-99") is not None
        assert auth.authenticate(engine, username="ana", password="ana-pass-12") is None
        trail = [(e.actor, e.action, e.target) for e in auth.list_audit_entries(engine, limit=20)]
    for action, target in [
        ("operators.create", "boss"),
        ("operators.set_role", "ana"),
        ("operators.deactivate", "watcher"),
        ("operators.reactivate", "watcher"),
        ("operators.set_password", "ana"),
    ]:
        assert ("cli", action, target) in trail


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("users", "create", "x1", "--role", "boss", "--password", "long-enough-1"), "not one of"),
        (("users", "create", "x2", "--password", "short"), "at least"),
        (
            ("users", "create", "x3", "--password", "long-enough-1", "--password-stdin"),
            "not both",
        ),
        (("users", "set-role", "boss", "viewer"), "last active admin"),
        (("users", "set-role", "nobody", "viewer"), "nobody"),
    ],
)
def test_refusals_name_the_problem_and_store_nothing(
    run: Any, args: tuple[str, ...], reason: str
) -> None:
    run("users", "create-admin", "--username", "boss", "--password", "boss-pass-1")
    before = accounts(run)
    with pytest.raises(InputError, match=reason):
        run(*args)
    assert accounts(run) == before
