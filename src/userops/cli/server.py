"""`userops serve` and `userops run-demo` (what `make run` calls)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from userops.cli.catalog import help_of
from userops.cli.common import console, stage_progress
from userops.services.auth import ensure_demo_admin
from userops.services.demo import load_demo, seed_demo_membership, warehouse_is_empty
from userops.services.setup import initialise
from userops.settings import get_settings

HostOpt = Annotated[str | None, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]


def _serve(host: str | None, port: int | None) -> None:
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    console.print(f"userops console: [bold]http://{host}:{port}/[/]  (Ctrl+C to stop)")
    uvicorn.run(
        "userops.server:app_factory", factory=True, host=host, port=port, log_level="warning"
    )


def register(app: typer.Typer) -> None:
    @app.command("serve", help=help_of("serve"))
    def serve(host: HostOpt = None, port: PortOpt = None) -> None:
        _serve(host, port)

    @app.command("run-demo", help=help_of("run-demo"))
    def run_demo(
        host: HostOpt = None,
        port: PortOpt = None,
        users: Annotated[
            int, typer.Option(help="Demo users when the data folder is empty.")
        ] = 20_000,
        days: Annotated[int, typer.Option(help="Days of demo history.")] = 90,
    ) -> None:
        settings = get_settings()
        initialise(settings)
        if warehouse_is_empty(settings):
            with stage_progress("loading the demo dataset") as step:
                loaded = load_demo(settings, users=users, days=days, progress=step)
            console.print(
                f"demo data: {loaded.users.accepted:,} users, {loaded.events.accepted:,} events"
            )
            with stage_progress("setting up the demo growth system") as step:
                applied = seed_demo_membership(settings, progress=step)
            if applied:
                console.print(f"demo membership: levels and points from {applied:,} rule hits")
        _ensure_demo_admin()
        _serve(host, port)


def _ensure_demo_admin() -> None:
    login = ensure_demo_admin(get_settings())
    if login is not None:
        console.print(f"demo admin: [bold]{login[0]}[/] / [bold]{login[1]}[/]")
