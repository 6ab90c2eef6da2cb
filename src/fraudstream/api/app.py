"""The FastAPI application: `create_app(settings)` builds one; tests build their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from fraudstream import __version__
from fraudstream.api.bodies import validation_error
from fraudstream.api.routers import health, labels, live, records, score
from fraudstream.config import Settings
from fraudstream.runtime import Runtime, build_runtime

__all__ = ["create_app"]

STATIC = Path(str(resources.files("fraudstream.api").joinpath("static")))


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The API and dashboard over `runtime` (built from `settings` and started if not given)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or build_runtime(settings)
        if owned:
            app.state.runtime.start()
        try:
            yield
        finally:
            if owned:
                app.state.runtime.stop()

    app = FastAPI(
        title="fraudstream",
        version=__version__,
        summary="Real-time fraud scores, reasons and outcomes for payment transactions.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, validation_error)
    if runtime is not None:
        app.state.runtime = runtime
    for router in (score.router, records.router, labels.router, live.router, health.router):
        app.include_router(router)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboard")
    return app
