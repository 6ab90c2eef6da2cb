"""The FastAPI application: `create_app(settings)` builds one; tests build their own."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from fraudstream import __version__
from fraudstream.api.bodies import document_bodies, validation_error
from fraudstream.api.dependencies import Guard
from fraudstream.api.limits import BodyLimit
from fraudstream.api.pool import ScoringPool
from fraudstream.api.routers import cases, health, labels, live, models, records, rules, score
from fraudstream.api.routers.cases import CaseChange, NoteRequest
from fraudstream.api.routers.rules import BacktestRequest, ListChange, ListEntriesRequest
from fraudstream.api.schemas import ReviewRequest
from fraudstream.config import Settings
from fraudstream.rules.document import RulesetDocument
from fraudstream.runtime import Runtime, build_runtime

__all__ = ["create_app"]

STATIC = Path(str(resources.files("fraudstream.api").joinpath("static")))
#: Every response: no framing (clickjacking), no content sniffing, no referrer leaks.
SECURITY_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: The dashboard's own files only: no inline script, nothing from elsewhere.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: Seconds a thread holds the GIL while another waits for it (Python's default: 0.005).
SWITCH_INTERVAL: Final = 0.001
#: Pages FastAPI builds from a CDN's scripts (the API docs), outside the dashboard's policy.
DOC_PATHS: Final = ("/docs", "/redoc")


async def _client_gone(_: Request, __: Exception) -> Response:
    # The client went away while sending its body: no one reads the answer, and no traceback is due.
    return Response(status_code=400)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The API and dashboard over `runtime` (built from `settings` and started if not given)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.pool.limiter  # noqa: B018 - made here, inside the event loop
        # A thread deciding a batch gives the GIL up this often to the event loop, which
        # needs it a few times per request it answers meanwhile (liveness above all).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        app.state.runtime = runtime or build_runtime(settings)
        if owned:
            app.state.runtime.start()
        try:
            yield
        finally:
            sys.setswitchinterval(interval)
            if owned:
                app.state.runtime.stop()

    docs = settings.docs if settings.docs is not None else not settings.keys
    app = FastAPI(
        title="fraudstream",
        version=__version__,
        summary="Real-time fraud scores, reasons and outcomes for payment transactions.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.guard = Guard.from_settings(settings)
    app.state.pool = ScoringPool(settings.scoring_threads, settings.max_waiting_requests)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # inside the headers below: 413s get them

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith(DOC_PATHS):
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    if runtime is not None:
        app.state.runtime = runtime
    for router in (
        score.router,
        records.router,
        labels.router,
        cases.router,
        rules.router,
        models.router,
        live.router,
        health.router,
    ):
        app.include_router(router)
    document_bodies(
        app, [ReviewRequest, RulesetDocument, ListEntriesRequest, BacktestRequest, CaseChange, NoteRequest, ListChange]
    )
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboard")
    return app
