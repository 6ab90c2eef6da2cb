"""Shared request dependencies: the running service and API-key scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request, status

from fraudstream.config import Settings
from fraudstream.runtime import Runtime
from fraudstream.service import DecisionService

__all__ = ["get_runtime", "get_service", "json_body", "require"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # pragma: no cover - only before startup finished
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "starting up")
    return runtime


def get_service(runtime: Annotated[Runtime, Depends(get_runtime)]) -> DecisionService:
    return runtime.service


def json_body(request: Request) -> None:
    """415 for a body that is not declared JSON: a form or text/plain POST, which any web
    page can send across sites without asking, would otherwise be scored."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")


def require(scope: str) -> Callable[..., None]:
    """A dependency that admits requests whose API key has `scope` (or admin).

    Without configured keys the API is open. Browsers' EventSource cannot send
    headers, so the key may also come as `?api_key=`.
    """

    def check(
        request: Request,
        x_api_key: Annotated[str | None, Header(description="API key, when keys are configured.")] = None,
        api_key: Annotated[str | None, Query(include_in_schema=False)] = None,
    ) -> None:
        settings: Settings = request.app.state.settings
        keys = settings.keys
        if not keys:
            return
        key = x_api_key or api_key
        if key is None or key not in keys:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown API key (X-API-Key header)",
                {"WWW-Authenticate": "ApiKey"},
            )
        if scope not in keys[key] and "admin" not in keys[key]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")

    return check
