"""The HTTP server: the composition root that puts the ingestion API, the JSON API and the
console on one FastAPI app over one `Runtime`. The faces do not import each other; this does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from userops import __version__
from userops.services.runtime import Runtime
from userops.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(
        title="userops",
        version=__version__,
        description="User operations platform: Segment-compatible ingestion, metrics, profiles, "
        "growth system and campaigns.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load from a CDN; the spec itself is served at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    _mount_faces(app, settings)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _mount_faces(app: FastAPI, settings: Settings) -> None:
    from userops import api, web

    api.install(app, settings)
    web.install(app, settings)


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory userops.server:app_factory`."""
    return create_app()
