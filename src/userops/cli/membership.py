"""`userops points|levels|rules|badges|boards ...`: the growth system from the command line.

Thin commands over `userops.membership`: parse, call one service, print (a line, a table, or
`--json`). Every points write takes `--key KEY`: run the same command twice and the second
prints what the first did (`replayed`), writing nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from userops.cli.catalog import help_of
from userops.cli.common import console, console_err, print_json, stage_progress
from userops.domain.membership.badges import BADGE_KINDS, Tier
from userops.domain.membership.incentives import CAP_PERIODS, AwardFormula, Caps
from userops.domain.membership.points import ExpiryRule
from userops.errors import InputError, StoreBusyError
from userops.membership import (
    badges,
    economy,
    leaderboards,
    levels,
    open_database,
    points,
    rules,
)
from userops.membership.levels import LevelSpec
from userops.settings import Settings, get_settings
from userops.store.audit import ACTOR_CLI
from userops.warehouse.connection import Warehouse, init_warehouse, warehouse_session

points_app = typer.Typer(
    help=help_of("points"),
    no_args_is_help=True,
)
levels_app = typer.Typer(
    help=help_of("levels"),
    no_args_is_help=True,
)
rules_app = typer.Typer(
    help=help_of("rules"),
    no_args_is_help=True,
)
badges_app = typer.Typer(help=help_of("badges"), no_args_is_help=True)
boards_app = typer.Typer(help=help_of("boards"), no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
KeyOpt = Annotated[
    str,
    typer.Option("--key", "-k", help="Idempotency key: the same key twice writes once (required)."),
]
UserArg = Annotated[str, typer.Argument(help="The user's id.")]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", help="When it happens (ISO-8601; naive = USEROPS_TIMEZONE). Default: now."
    ),
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the ledger).")]


def register(app: typer.Typer) -> None:
    """Mount the growth system's command groups on the root app."""
    app.add_typer(points_app, name="points")
    app.add_typer(levels_app, name="levels")
    app.add_typer(rules_app, name="rules")
    app.add_typer(badges_app, name="badges")
    app.add_typer(boards_app, name="boards")


@contextmanager
def _engine() -> Iterator[tuple[Settings, Engine]]:
    settings = get_settings()
    with open_database(settings) as engine:
        yield settings, engine


def _when(text: str | None, settings: Settings) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--at {text!r} is not an ISO-8601 time") from exc
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


def _day(text: str | None, settings: Settings, option: str = "--date") -> date:
    if text is None:
        return datetime.now(settings.tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from exc


def _points_result(result: points.PointsResult, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(result.as_json())
        return
    balance = result.balance
    note = " [yellow](replayed: nothing new written)[/]" if result.replayed else ""
    moved = ", ".join(f"{e.kind} {e.amount:+,}" for e in result.entries) or "nothing"
    console.print(
        f"{verb} for [bold]{balance.user_id}[/]: {moved}{note}; available "
        f"[green]{balance.available:,}[/], pending {balance.pending:,}",
        highlight=False,
        soft_wrap=True,
    )


@points_app.command("award")
def award(
    user: UserArg,
    amount: Annotated[int, typer.Argument(help="Points to give (a positive whole number).")],
    key: KeyOpt,
    reason: ReasonOpt = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Order or campaign it belongs to.")
    ] = None,
    maturity_days: Annotated[
        int, typer.Option("--maturity-days", help="Pending this many days (a return window).")
    ] = 0,
    expiry: Annotated[
        str, typer.Option("--expiry", help="never, days:N, month_end:N or year_end:N.")
    ] = "never",
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a user points."""
    with _engine() as (settings, engine):
        result = points.award(
            engine,
            user_id=user,
            amount=amount,
            key=key,
            reason=reason,
            reference=reference,
            maturity_days=maturity_days,
            expiry=expiry,
            at=_when(at, settings),
            actor=ACTOR_CLI,
            tz=settings.tz,
        )
    _points_result(result, as_json, "awarded")


@points_app.command("redeem")
def redeem(
    user: UserArg,
    amount: Annotated[int, typer.Argument(help="Points to spend.")],
    key: KeyOpt,
    reference: Annotated[
        str | None, typer.Option("--reference", help="The order paid with the points.")
    ] = None,
    reason: ReasonOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Spend a user's available points, oldest first; refused when they have too few."""
    with _engine() as (settings, engine):
        result = points.redeem(
            engine,
            user_id=user,
            amount=amount,
            key=key,
            reference=reference,
            reason=reason,
            at=_when(at, settings),
            actor=ACTOR_CLI,
        )
    _points_result(result, as_json, "redeemed")


@points_app.command("reverse")
def reverse(
    user: UserArg,
    key: KeyOpt,
    entry: Annotated[
        str | None, typer.Option("--entry", help="The idempotency key of the entry to reverse.")
    ] = None,
    order: Annotated[
        str | None,
        typer.Option("--order", help="Reverse everything this order (reference) earned/spent."),
    ] = None,
    amount: Annotated[
        int | None, typer.Option("--amount", help="Reverse only part of --entry.")
    ] = None,
    reason: ReasonOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reverse an entry, or an order (its spends are restored, its earns clawed back)."""
    with _engine() as (settings, engine):
        result = points.reverse(
            engine,
            user_id=user,
            key=key,
            entry_key=entry,
            reference=order,
            amount=amount,
            reason=reason,
            at=_when(at, settings),
            actor=ACTOR_CLI,
        )
    _points_result(result, as_json, "reversed")


@points_app.command("adjust")
def adjust(
    user: UserArg,
    amount: Annotated[
        int,
        typer.Argument(help="Points to add, or negative to take away (write -- before it)."),
    ],
    key: KeyOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An operator's correction of a balance: `userops points adjust --key K --reason R USER
    -- -50` takes 50 points."""
    with _engine() as (settings, engine):
        result = points.adjust(
            engine,
            user_id=user,
            amount=amount,
            key=key,
            reason=reason,
            actor=ACTOR_CLI,
            at=_when(at, settings),
            tz=settings.tz,
        )
    _points_result(result, as_json, "adjusted")


@points_app.command("balance")
def balance(user: UserArg, at: AtOpt = None, as_json: JsonOpt = False) -> None:
    """What a user holds: available, pending (not matured) and the next expiries."""
    with _engine() as (settings, engine):
        found = points.balance(engine, user_id=user, at=_when(at, settings))
    if as_json:
        print_json(found.as_json())
        return
    console.print(
        f"[bold]{found.user_id}[/]: available [green]{found.available:,}[/], "
        f"pending {found.pending:,}",
        highlight=False,
    )
    for when, amount in found.expiring:
        console.print(f"  {amount:,} expire at {when.astimezone(get_settings().tz):%Y-%m-%d %H:%M}")


@points_app.command("history")
def history(
    user: UserArg,
    limit: Annotated[int, typer.Option("--limit", help="Entries to show.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """A user's points ledger, newest first."""
    with _engine() as (_settings, engine):
        found = points.statement(engine, user_id=user, limit=limit)
    if as_json:
        print_json([e.as_json() for e in found])
        return
    table = Table("id", "when", "kind", "amount", "key", "reference", "reason")
    for e in found:
        table.add_row(
            str(e.id),
            f"{e.effective_at.astimezone(get_settings().tz):%Y-%m-%d %H:%M}",
            e.kind,
            f"{e.amount:+,}",
            e.key,
            e.reference or "",
            e.reason or "",
        )
    console.print(table)


@points_app.command("expire")
def expire(at: AtOpt = None, as_json: JsonOpt = False) -> None:
    """Write the expiry of every lot that is due (run it daily)."""
    with _engine() as (settings, engine):
        run = points.expire(engine, at=_when(at, settings))
    if as_json:
        print_json(run.as_json())
        return
    console.print(f"expired {run.points:,} points of {run.users:,} users")


@points_app.command("campaign")
def campaign(
    key: KeyOpt,
    amount: Annotated[int, typer.Option("--amount", help="Points each user gets.")],
    users_file: Annotated[
        Path | None, typer.Option("--users-file", help="A file of user ids, one per line.")
    ] = None,
    users: Annotated[
        str | None, typer.Option("--users", help="User ids separated by commas.")
    ] = None,
    expiry: Annotated[str, typer.Option("--expiry", help="Expiry rule of the points.")] = "never",
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give many users the same points in one transaction (rerun-safe: --key per campaign)."""
    ids: list[str] = []
    if users_file is not None:
        ids += [line.strip() for line in users_file.read_text().splitlines() if line.strip()]
    if users:
        ids += [u.strip() for u in users.split(",") if u.strip()]
    if not ids:
        raise InputError("give the users with --users-file FILE or --users u1,u2")
    with _engine() as (settings, engine):
        done = points.award_campaign(
            engine,
            key=key,
            user_ids=ids,
            amount=amount,
            expiry=ExpiryRule.parse(expiry),
            reference=key,
            reason=reason,
            actor=ACTOR_CLI,
            tz=settings.tz,
        )
    if as_json:
        print_json(done.as_json())
        return
    console.print(
        f"awarded {done.points:,} points to {done.awarded:,} users "
        f"({done.already:,} already had them from this key)"
    )


@points_app.command("economy")
def economy_report(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str | None, typer.Option("--to", help="Last day (default today).")] = None,
    scheme: Annotated[
        str | None, typer.Option("--scheme", help="Add its level distribution and migration.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issued, redeemed, expired and outstanding points by month and by rule."""
    with _engine() as (settings, engine):
        document = economy.report(
            engine,
            start=_day(start, settings, "--from"),
            end=_day(end, settings, "--to"),
            tz=settings.tz,
            scheme=scheme,
        )
    if as_json:
        print_json(document)
        return
    table = Table("month", "issued", "redeemed", "expired", "reversed", "outstanding", "redeem %")
    for row in document["months"]:
        rate = row["redemption_rate"]
        table.add_row(
            row["month"],
            f"{row['issued']:,}",
            f"{row['redeemed']:,}",
            f"{row['expired']:,}",
            f"{row['reversed']:,}",
            f"{row['outstanding']:,}",
            f"{float(rate) * 100:.1f}" if rate else "-",
        )
    console.print(table)
    total = document["total"]
    console.print(
        f"outstanding (liability): [bold]{total['outstanding']:,}[/] points; redemption rate "
        f"{total['redemption_rate'] or '-'}, breakage {total['breakage'] or '-'}",
        highlight=False,
    )


# Levels --------------------------------------------------------------------------------------


def _level_spec(text: str) -> LevelSpec:
    parts = text.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "invite"):
        raise InputError(f"--level {text!r} is not CODE:NAME:THRESHOLD[:invite]")
    try:
        threshold = int(parts[2])
    except ValueError as exc:
        raise InputError(f"--level {text!r}: the threshold must be a whole number") from exc
    return LevelSpec(parts[0], parts[1], threshold, invite_only=len(parts) == 4)


@levels_app.command("create")
def create_scheme(
    code: Annotated[str, typer.Argument(help="The scheme's code, e.g. vip.")],
    level: Annotated[
        list[str],
        typer.Option(
            "--level",
            help="CODE:NAME:THRESHOLD[:invite], lowest first (repeat), e.g. gold:Gold:1000.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="A display name.")] = "",
    policy: Annotated[str, typer.Option("--policy", help="only_up or up_down.")] = "only_up",
    window_months: Annotated[
        int | None, typer.Option("--window-months", help="Growth of the last N months.")
    ] = None,
    keep_days: Annotated[int, typer.Option("--keep-days", help="Keep period (保级).")] = 0,
    notice_days: Annotated[
        int, typer.Option("--notice-days", help="Notice this many days before a downgrade.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Create a level scheme."""
    with _engine() as (_settings, engine):
        info = levels.create_scheme(
            engine,
            code=code,
            name=name,
            levels=[_level_spec(text) for text in level],
            policy=policy,  # type: ignore[arg-type]
            window_months=window_months,
            keep_days=keep_days,
            notice_days=notice_days,
            actor=ACTOR_CLI,
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"scheme [bold]{info.code}[/] created with {len(info.levels)} levels")


@levels_app.command("list")
def list_schemes(as_json: JsonOpt = False) -> None:
    """List level schemes and their levels."""
    with _engine() as (_settings, engine):
        found = levels.list_schemes(engine)
    if as_json:
        print_json([s.as_json() for s in found])
        return
    for scheme in found:
        ladder = " < ".join(f"{lv.name} ({lv.threshold:,})" for lv in scheme.levels)
        console.print(f"[bold]{scheme.code}[/] {scheme.policy.policy}: {ladder}", highlight=False)


def _publish(settings: Settings, engine: Engine) -> int | None:
    """Write level steps to the warehouse; None when another process holds it."""
    try:
        with warehouse_session(settings) as wh:
            init_warehouse(wh)
            return levels.publish_level_events(engine, wh, tz=settings.tz)
    except StoreBusyError:
        return None


@levels_app.command("evaluate")
def evaluate(
    on: Annotated[str | None, typer.Option("--date", help="The local day (default today).")] = None,
    scheme: Annotated[str | None, typer.Option("--scheme", help="Only this scheme.")] = None,
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Write level events to the warehouse.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Move every user to the level their growth value earns (run daily, in order)."""
    with _engine() as (settings, engine):
        with stage_progress("evaluating levels", enabled=not as_json):
            run = levels.evaluate(engine, on=_day(on, settings), tz=settings.tz, scheme=scheme)
        published = _publish(settings, engine) if publish else 0
    if as_json:
        print_json({**run.as_json(), "published": published})
        return
    changes = ", ".join(f"{n:,} {kind}" for kind, n in sorted(run.changes.items())) or "no changes"
    console.print(f"{run.on}: {run.users:,} users evaluated, {changes}")
    if published is None:
        console_err.print(
            "level events not written: another process holds the warehouse; the next "
            "`userops levels evaluate` (or the server) writes them"
        )


@levels_app.command("assign")
def assign(
    user: UserArg,
    scheme: Annotated[str, typer.Option("--scheme", help="The scheme.")],
    level: Annotated[str, typer.Option("--level", help="The level's code.")],
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (default: for good).")
    ] = None,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a user on a level by hand (invitation-only levels)."""
    with _engine() as (settings, engine):
        info = levels.assign_level(
            engine,
            scheme=scheme,
            user_id=user,
            level=level,
            on=_day(None, settings),
            until=_day(until, settings, "--until") if until else None,
            actor=ACTOR_CLI,
            reason=reason,
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"[bold]{user}[/] is now {info.level_name} in {scheme}", highlight=False)


@levels_app.command("show")
def show(
    user: UserArg, scheme: Annotated[str, typer.Option("--scheme")], as_json: JsonOpt = False
) -> None:
    """Where a user stands in a scheme."""
    with _engine() as (_settings, engine):
        info = levels.member_level(engine, scheme=scheme, user_id=user)
    if as_json:
        print_json(info.as_json())
        return
    due = f", downgrade on {info.downgrade_on}" if info.downgrade_on else ""
    console.print(
        f"[bold]{user}[/]: {info.level_name or 'no level'} since {info.since or '-'}, growth "
        f"{info.growth:,}{due}",
        highlight=False,
    )


@levels_app.command("history")
def level_history(
    user: UserArg,
    scheme: Annotated[str | None, typer.Option("--scheme")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A user's level history."""
    with _engine() as (_settings, engine):
        found = levels.history(engine, user_id=user, scheme=scheme)
    if as_json:
        print_json([h.as_json() for h in found])
        return
    table = Table("day", "scheme", "step", "from", "to", "growth")
    for h in found:
        table.add_row(
            str(h.on), h.scheme, h.kind, h.from_level or "-", h.to_level or "-", f"{h.growth:,}"
        )
    console.print(table)


# Rules ---------------------------------------------------------------------------------------


def _formula(text: str | None) -> AwardFormula | None:
    """`fixed:5`, `per_amount:1` (per yuan) or `per_amount:2/1000` (2 per 10 yuan)."""
    if text is None:
        return None
    mode, _, rest = text.partition(":")
    value, _, unit = rest.partition("/")
    try:
        return AwardFormula(mode, int(value), int(unit) if unit else 100)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(f"{text!r} is not fixed:N or per_amount:N[/UNIT_CENTS]") from exc


@rules_app.command("create")
def create_rule(
    code: Annotated[str, typer.Argument(help="The rule's code.")],
    event: Annotated[str, typer.Option("--event", help="The event that triggers it.")],
    name: Annotated[str, typer.Option("--name")] = "",
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="PROPERTY OP VALUE, e.g. category=美妆个护 (repeatable)."),
    ] = None,
    points_: Annotated[
        str | None, typer.Option("--points", help="fixed:N or per_amount:N[/UNIT_CENTS].")
    ] = None,
    growth: Annotated[
        str | None, typer.Option("--growth", help="Growth value, as --points.")
    ] = None,
    cap_day: Annotated[int | None, typer.Option("--cap-day", help="Points per day.")] = None,
    cap_period: Annotated[
        int | None, typer.Option("--cap-period", help="Points per period.")
    ] = None,
    cap_lifetime: Annotated[int | None, typer.Option("--cap-lifetime")] = None,
    growth_cap_day: Annotated[int | None, typer.Option("--growth-cap-day")] = None,
    period: Annotated[str, typer.Option("--period", help=f"{', '.join(CAP_PERIODS)}.")] = "month",
    multiplier_scheme: Annotated[
        str | None, typer.Option("--multiplier-scheme", help="Multiply by the level's benefit.")
    ] = None,
    maturity_days: Annotated[int, typer.Option("--maturity-days")] = 0,
    expiry: Annotated[str, typer.Option("--expiry")] = "never",
    as_json: JsonOpt = False,
) -> None:
    """Define an incentive rule."""
    with _engine() as (_settings, engine):
        info = rules.create_rule(
            engine,
            code=code,
            name=name,
            event=event,
            filters=filter_ or [],
            points=_formula(points_),
            growth=_formula(growth),
            points_caps=Caps(cap_day, cap_period, cap_lifetime),
            growth_caps=Caps(growth_cap_day),
            cap_period=period,  # type: ignore[arg-type]
            multiplier_scheme=multiplier_scheme,
            maturity_days=maturity_days,
            expiry=expiry,
            actor=ACTOR_CLI,
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(
        f"rule [bold]{info.rule.code}[/] created; `userops rules backfill` applies it "
        "to the events already stored"
    )


@rules_app.command("list")
def list_rules(as_json: JsonOpt = False) -> None:
    """List incentive rules."""
    with _engine() as (_settings, engine):
        found = rules.list_rules(engine)
    if as_json:
        print_json([r.as_json() for r in found])
        return
    table = Table("code", "event", "points", "growth", "caps (day/period/life)", "active")
    for info in found:
        doc = info.as_json()
        caps = doc["points_caps"]
        table.add_row(
            info.rule.code,
            info.rule.event,
            f"{doc['points']['mode']} {doc['points']['value']}",
            f"{doc['growth']['mode']} {doc['growth']['value']}",
            f"{caps['day'] or '-'}/{caps['period'] or '-'}/{caps['lifetime'] or '-'}",
            "yes" if info.is_active else "paused",
        )
    console.print(table)


@rules_app.command("pause")
def pause(code: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
    """Stop a rule from applying to new events."""
    _set_active(code, False, as_json)


@rules_app.command("resume")
def resume(code: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
    """Let a paused rule apply again."""
    _set_active(code, True, as_json)


def _set_active(code: str, active: bool, as_json: bool) -> None:
    with _engine() as (_settings, engine):
        info = rules.set_rule_active(engine, code=code, active=active, actor=ACTOR_CLI)
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"rule [bold]{code}[/] {'active' if active else 'paused'}")


@contextmanager
def _warehouse(settings: Settings) -> Iterator[Warehouse]:
    with warehouse_session(settings, read_only=True) as wh:
        yield wh


@rules_app.command("backfill")
def backfill(
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time (ISO).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the active rules to the events in the warehouse, oldest first, once each."""
    with (
        _engine() as (settings, engine),
        _warehouse(settings) as wh,
        stage_progress("applying rules", enabled=not as_json) as step,
    ):
        done = rules.backfill(
            engine,
            wh,
            tz=settings.tz,
            since=_when(since, settings),
            until=_when(until, settings),
            progress=step,
        )
    if as_json:
        print_json(done.as_json())
        return
    console.print(
        f"{done.events:,} events read, {done.applied:,} awards: {done.points:,} points and "
        f"{done.growth:,} growth value to {len(done.users):,} users"
    )


# Badges and leaderboards ---------------------------------------------------------------------


def _tier(text: str) -> Tier:
    threshold, _, name = text.partition(":")
    try:
        return Tier(int(threshold), name or threshold)
    except ValueError as exc:
        raise InputError(f"--tier {text!r} is not THRESHOLD[:NAME]") from exc


@badges_app.command("create")
def create_badge(
    code: Annotated[str, typer.Argument()],
    kind: Annotated[str, typer.Option("--kind", help=f"{', '.join(BADGE_KINDS)}.")],
    tier: Annotated[list[str], typer.Option("--tier", help="THRESHOLD[:NAME] (repeatable).")],
    name: Annotated[str, typer.Option("--name")] = "",
    event: Annotated[str | None, typer.Option("--event")] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter")] = None,
    leaderboard: Annotated[str | None, typer.Option("--leaderboard")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Define a badge: event_count (first purchase: --tier 1), streak, top_rank."""
    with _engine() as (_settings, engine):
        info = badges.create_badge(
            engine,
            code=code,
            name=name,
            kind=kind,  # type: ignore[arg-type]
            tiers=[_tier(t) for t in tier],
            event=event,
            filters=filter_ or [],
            leaderboard=leaderboard,
            actor=ACTOR_CLI,
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"badge [bold]{info.code}[/] created")


@badges_app.command("evaluate")
def evaluate_badges(as_json: JsonOpt = False) -> None:
    """Award every badge tier reached so far."""
    with _engine() as (settings, engine), _warehouse(settings) as wh:
        run = badges.evaluate_badges(engine, wh, tz=settings.tz)
    if as_json:
        print_json(run.as_json())
        return
    console.print(f"{sum(run.awarded.values()):,} badges awarded")


@boards_app.command("create")
def create_board(
    code: Annotated[str, typer.Argument()],
    metric: Annotated[str, typer.Option("--metric")],
    period: Annotated[str, typer.Option("--period")] = "month",
    size: Annotated[int, typer.Option("--size")] = 100,
    event: Annotated[str | None, typer.Option("--event")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Define a leaderboard (points_earned, growth_earned, event_count, revenue)."""
    with _engine() as (_settings, engine):
        info = leaderboards.create_leaderboard(
            engine,
            code=code,
            name=name,
            metric=metric,
            period=period,
            size=size,
            event=event,
            actor=ACTOR_CLI,
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"leaderboard [bold]{info.code}[/] created")


@boards_app.command("compute")
def compute_board(
    code: Annotated[str, typer.Argument()],
    on: Annotated[str | None, typer.Option("--date", help="A day of the period.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank the period containing --date (default today) and store the standings."""
    with _engine() as (settings, engine), _warehouse(settings) as wh:
        found = leaderboards.compute(
            engine, code=code, day=_day(on, settings), wh=wh, tz=settings.tz
        )
    _print_standings(found, as_json)


@boards_app.command("show")
def show_board(
    code: Annotated[str, typer.Argument()],
    on: Annotated[str | None, typer.Option("--date", help="A day of the period.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the stored standings of a period."""
    with _engine() as (settings, engine):
        found = leaderboards.standings(engine, code=code, day=_day(on, settings))
    _print_standings(found, as_json)


def _print_standings(found: leaderboards.Standings, as_json: bool) -> None:
    if as_json:
        print_json(found.as_json())
        return
    table = Table("rank", "user", "value", title=f"{found.board.name} from {found.period_start}")
    for entry in found.entries:
        table.add_row(str(entry.rank), entry.user_id, f"{entry.value:,}")
    console.print(table)
