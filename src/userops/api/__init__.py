"""HTTP API faces: the Segment-compatible ingestion API (/v1) and the JSON API (/api).

Each module in `_MODULES` exposes `router: fastapi.APIRouter`; `install` adds them all.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from userops.settings import Settings

_MODULES = ("ingest", "operators", "overview", "keys", "metrics", "funnels", "membership")


def install(app: FastAPI, settings: Settings) -> None:
    for name in _MODULES:
        try:
            module = importlib.import_module(f"userops.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"userops.api.{name}":
                continue  # TODO(lead): make strict once every module exists
            raise
        app.include_router(module.router)
