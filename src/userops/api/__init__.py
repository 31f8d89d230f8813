"""HTTP API faces: the Segment-compatible ingestion API (/v1) and the JSON API (/api).

Each module below exposes `router: fastapi.APIRouter`; `install` adds them all, the handler
that answers a service's `InputError` as a JSON refusal (400, 404 or 409), and the one that
answers a request FastAPI could not validate under /api with a 400 of the same shape.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from userops.api import (
    funnels,
    ingest,
    membership,
    metrics,
    operators,
    overview,
    profiles,
    segments,
)
from userops.api.deps import document_refusals, invalid_request, refused
from userops.errors import InputError
from userops.settings import Settings

_MODULES = (ingest, operators, overview, metrics, funnels, membership, segments, profiles)


def install(app: FastAPI, settings: Settings) -> None:
    for module in _MODULES:
        app.include_router(module.router)
    app.add_exception_handler(InputError, refused)
    app.add_exception_handler(RequestValidationError, invalid_request)
    openapi = app.openapi
    app.openapi = lambda: document_refusals(openapi())  # type: ignore[method-assign]
