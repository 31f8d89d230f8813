"""The HTTP server: the composition root that puts the ingestion API, the JSON API and the
console on one FastAPI app over one `Runtime`. The faces do not import each other; this does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from userops import __version__
from userops.profiles.refresh import stop_background as stop_background_refresh
from userops.services.daily_jobs import server_scheduler
from userops.services.runtime import Runtime
from userops.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, scheduler: bool = False) -> FastAPI:
    """The app; its daily jobs run when `settings.scheduler` says so, else when `scheduler`."""
    settings = settings or get_settings()
    run_jobs = settings.scheduler if settings.scheduler is not None else scheduler

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        app.state.scheduler = server_scheduler(runtime) if run_jobs else None
        if app.state.scheduler is not None:
            app.state.scheduler.start()
        try:
            yield
        finally:
            stop_background_refresh()  # a running tag refresh stops after its current tag
            if app.state.scheduler is not None:
                app.state.scheduler.stop()
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
    """Entry point for `uvicorn --factory userops.server:app_factory` (`userops serve`): the
    daily jobs run unless USEROPS_SCHEDULER=0."""
    return create_app(scheduler=True)
