"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from fraudstream.api.dependencies import get_pool, get_runtime, require
from fraudstream.api.pool import ScoringPool
from fraudstream.runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: the same checks, one of them failing"}})
def readyz(runtime: Annotated[Runtime, Depends(get_runtime)], pool: Annotated[ScoringPool, Depends(get_pool)]) -> Any:
    """Ready to take traffic: model loaded, database reachable, workers running, and not
    so many requests waiting that more would get 503."""
    scoring = pool.load()
    checks = {
        "model": runtime.service.version,
        "database": runtime.service.store.ping(),
        "workers": runtime.workers_alive,
        "scoring": scoring,
    }
    ready = bool(checks["database"]) and bool(checks["workers"]) and not scoring["saturated"]
    return JSONResponse(
        {"ready": ready, **checks}, status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    )


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require("metrics"))])
def metrics(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    """Prometheus metrics; with API keys configured, for keys with the metrics scope
    (`Authorization: Bearer`, which Prometheus sends), or on `serve --metrics-port`."""
    return Response(runtime.service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
