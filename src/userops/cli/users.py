"""`userops users ...`: operator accounts of the console from the command line.

The commands act as `cli` in the audit log. A password is prompted for (hidden, asked twice)
unless given with --password or read from standard input with --password-stdin, which keeps it
out of the shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.domain.roles import ROLES
from userops.errors import InputError
from userops.services import auth
from userops.settings import get_settings
from userops.store.audit import ACTOR_CLI

app = typer.Typer(
    help=help_of("users"),
    no_args_is_help=True,
)

UsernameArg = Annotated[str, typer.Argument(help="The operator's username (case-insensitive).")]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="The password (at least 8 characters). Without it, it is prompted for.",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first stdin line.")
]
DisplayNameOpt = Annotated[str, typer.Option("--display-name", help="Name shown in the console.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _password(given: str | None, from_stdin: bool) -> str:
    if given is not None and from_stdin:
        raise InputError("give the password with --password or --password-stdin, not both")
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if given is not None:
        return given
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"--role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _create(username: str, role: str, password: str, display_name: str, as_json: bool) -> None:
    with auth.app_database(get_settings()) as engine:
        created = auth.create_operator_account(
            engine,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            actor=ACTOR_CLI,
        )
    if as_json:
        print_json(created.as_json())
    else:
        console.print(f"created {created.role} [bold]{created.username}[/]")


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option("--username", help="The admin's username.")] = "admin",
    password: PasswordOpt = None,
    password_stdin: PasswordStdinOpt = False,
    display_name: DisplayNameOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an admin account (who can manage every other account)."""
    _create(username, "admin", _password(password, password_stdin), display_name, as_json)


@app.command("create")
def create(
    username: UsernameArg,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")] = "viewer",
    password: PasswordOpt = None,
    password_stdin: PasswordStdinOpt = False,
    display_name: DisplayNameOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an operator account with ROLE (viewer unless said otherwise)."""
    _check_role(role)
    _create(username, role, _password(password, password_stdin), display_name, as_json)


@app.command("list")
def list_users(as_json: JsonOpt = False) -> None:
    """List operator accounts with their role, status and last sign-in."""
    with auth.app_database(get_settings()) as engine:
        operators = auth.list_operator_accounts(engine)
    if as_json:
        print_json([op.as_json() for op in operators])
        return
    if not operators:
        console.print("no operators yet: run `userops users create-admin`")
        return
    from rich.table import Table

    table = Table("username", "display name", "role", "status", "last sign-in")
    for op in operators:
        table.add_row(
            op.username,
            op.display_name,
            op.role,
            "active" if op.is_active else "deactivated",
            op.last_login_at.isoformat(timespec="seconds") if op.last_login_at else "never",
        )
    console.print(table)


@app.command("set-role")
def set_role(
    username: UsernameArg,
    role: Annotated[str, typer.Argument(help=f"One of {', '.join(ROLES)}.")],
) -> None:
    """Give an operator another role (the last active admin keeps theirs)."""
    _check_role(role)
    with auth.app_database(get_settings()) as engine:
        changed = auth.change_role(engine, username=username, role=role, actor=ACTOR_CLI)
    console.print(f"[bold]{changed.username}[/] is now {changed.role}")


@app.command("set-password")
def set_password(
    username: UsernameArg,
    password: PasswordOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Replace an operator's password; their open console sessions end."""
    secret = _password(password, password_stdin)
    with auth.app_database(get_settings()) as engine:
        changed = auth.set_password(engine, username=username, password=secret, actor=ACTOR_CLI)
    console.print(f"password of [bold]{changed.username}[/] changed")


@app.command("deactivate")
def deactivate(username: UsernameArg) -> None:
    """Stop an operator from signing in (the account and its audit trail stay)."""
    with auth.app_database(get_settings()) as engine:
        changed = auth.deactivate_operator_account(engine, username=username, actor=ACTOR_CLI)
    console.print(f"[bold]{changed.username}[/] can no longer sign in")


@app.command("reactivate")
def reactivate(username: UsernameArg) -> None:
    """Let a deactivated operator sign in again."""
    with auth.app_database(get_settings()) as engine:
        changed = auth.reactivate_operator_account(engine, username=username, actor=ACTOR_CLI)
    console.print(f"[bold]{changed.username}[/] can sign in again")
