"""The top-level commands of `userops`: each one's help, and how to mount it when it is used.

A command's module imports what it works with (Ibis, DuckDB, pandas, SQLAlchemy, uvicorn),
which takes seconds. The root group (`LazyGroup`) lists the commands from this catalogue and
imports a command's module only when that command runs (or its own help is asked for), so
`userops --help` and `userops keys list` do not pay for the analytics stack. Each command's
help is written here once and read by its module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Final

import typer
from typer.core import TyperCommand, TyperGroup

from userops.domain.roles import ROLES


@dataclass(frozen=True, slots=True)
class Entry:
    """`module` mounts the command on a Typer app: `attr` is a Typer mounted as a group under
    the command's name, or a function `register(app)` that adds it (and maybe others)."""

    help: str
    module: str
    attr: str = "app"
    extra: tuple[tuple[str, str], ...] = ()  # (module, function(app_of_this_command)) to run


COMMANDS: Final[dict[str, Entry]] = {
    "init": Entry(
        "Create or upgrade the warehouse and the application database (safe to run twice).",
        "userops.cli.setup",
        "register",
    ),
    "serve": Entry(
        "Run the server: ingestion API (/v1), JSON API (/api) and the console.",
        "userops.cli.server",
        "register",
    ),
    "run-demo": Entry(
        "Set up the stores, load the demo dataset if the data folder is empty, create a demo "
        "admin and serve the console (this is `make run`).",
        "userops.cli.server",
        "register",
    ),
    "import": Entry(
        "Bulk import from CSV, JSON Lines or Parquet. Bad rows go to a quarantine file with "
        "their row number and reason; the same file imported twice stores nothing twice; an "
        "import is all-or-nothing.",
        "userops.cli.imports",
    ),
    "users": Entry(
        "Operator accounts of the console: create admins and operators, list them, change "
        f"roles ({', '.join(ROLES)}), reset passwords, deactivate. Changes go to the audit log.",
        "userops.cli.users",
    ),
    "keys": Entry(
        "Write keys that event producers send to the ingestion API (/v1): as the HTTP Basic "
        "username, as Segment's SDKs do, or as writeKey in the body. A key is shown once, when "
        "created; only its sha256 is stored.",
        "userops.cli.keys",
    ),
    "points": Entry(
        "Points (积分): award, redeem, reverse, adjust, balance, expire, campaigns, economy.",
        "userops.cli.membership",
        "register",
    ),
    "levels": Entry(
        "Level schemes (等级): create, evaluate every user for a day, assign, history.",
        "userops.cli.membership",
        "register",
    ),
    "rules": Entry(
        "Incentive rules (激励体系): create, list, pause, resume, backfill history.",
        "userops.cli.membership",
        "register",
    ),
    "badges": Entry("Badges (勋章): create, list, evaluate.", "userops.cli.membership", "register"),
    "boards": Entry(
        "Leaderboards (排行榜): create, list, compute, show.", "userops.cli.membership", "register"
    ),
    "metrics": Entry(
        "Metrics over the warehouse: active users, stickiness, new users, retention, revenue, "
        "channels, lifecycle. Days are local days of USEROPS_TIMEZONE; weeks start on Monday.",
        "userops.cli.metrics",
        extra=(("userops.cli.funnel", "register"),),  # `userops metrics funnel`
    ),
    "demo": Entry(
        "Synthetic demo data: a simulated e-commerce app with membership (channels, Chinese "
        "regions, a weekly rhythm, a 双11-like sale, churn) and a few planted truths to find. "
        "See docs/demo-data.md.",
        "userops.cli.demo",
    ),
    "segment": Entry(
        "Segments (人群): preview a rule, save dynamic or static segments, export members.",
        "userops.cli.segments",
    ),
    "tags": Entry(
        "Tags (标签): the taxonomy, computed tags (RFM, lifecycle, value grade, intent, "
        "activity, member tags), their parameters, refresh and migrations between days.",
        "userops.cli.tags",
        extra=(("userops.cli.segments", "register_tag_import"),),  # `userops tags import`
    ),
    "profile": Entry(
        "User profiles (用户画像): one user's traits, tags, stage and grade history, RFM "
        "scores, events and membership; search by user id, phone or email.",
        "userops.cli.profile",
    ),
}


def help_of(name: str) -> str:
    """The help of a top-level command (its module's Typer or command reads it from here)."""
    return COMMANDS[name].help


def load(name: str) -> Any:
    """Import the command's module and build its click command."""
    entry = COMMANDS[name]
    holder = typer.Typer()
    holder.callback()(_nothing)  # a group even when it holds a single command
    mounted: Any = getattr(importlib.import_module(entry.module), entry.attr)
    if isinstance(mounted, typer.Typer):
        for module, function in entry.extra:
            getattr(importlib.import_module(module), function)(mounted)
        holder.add_typer(mounted, name=name)
    else:
        mounted(holder)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _nothing() -> None:
    """(the holder's callback)"""


class LazyGroup(TyperGroup):
    """The root group: commands from the catalogue, each module imported on first use.

    While the root's own help is printed, a command is shown by a stand-in carrying its help
    from the catalogue; anything else (running it, `userops CMD --help`) loads the real one.
    """

    _listing = False

    # (click's types stay Any here: Typer vendors its own copy of click)
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        if self._listing:
            return TyperCommand(cmd_name, help=help_of(cmd_name))
        command = load(cmd_name)
        self.commands[cmd_name] = command
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError: suggest from every command, loaded or not
            message = getattr(exc, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(m) for m in matches)
                    exc.message = f"{message.rstrip('.')}. Did you mean {suggestions}?"  # type: ignore[attr-defined]
            raise

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
