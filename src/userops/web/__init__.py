"""The operators' console: server-rendered pages (Jinja2 + HTMX + ECharts, all vendored)."""

from __future__ import annotations

from fastapi import FastAPI

from userops.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the console's routes, static files and middleware to the app."""
