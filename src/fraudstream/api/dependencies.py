"""Shared request dependencies: the running service and API-key scopes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from fraudstream.api.pool import ScoringPool
from fraudstream.config import Settings
from fraudstream.decide.service import DecisionService
from fraudstream.keys import KeyBuckets, match
from fraudstream.runtime import Runtime

__all__ = ["KEY_ID_LENGTH", "Guard", "get_runtime", "get_service", "json_body", "require"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # pragma: no cover - only before startup finished
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "starting up")
    return runtime


def get_service(runtime: Annotated[Runtime, Depends(get_runtime)]) -> DecisionService:
    return runtime.service


def get_pool(request: Request) -> ScoringPool:
    pool: ScoringPool = request.app.state.pool
    return pool


def json_body(request: Request) -> None:
    """415 for a body that is not declared JSON: a form or text/plain POST, which any web
    page can send across sites without asking, would otherwise be scored."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")


@dataclass(frozen=True)
class Guard:
    """The rate limits in front of the API keys: wrong keys per client, requests per key."""

    failures: KeyBuckets
    requests: KeyBuckets

    @classmethod
    def from_settings(cls, settings: Settings) -> Guard:
        failures = settings.failed_keys_per_minute
        return cls(
            failures=KeyBuckets(rate=failures / 60, burst=failures),
            requests=KeyBuckets(rate=settings.key_requests_per_s, burst=2 * settings.key_requests_per_s),
        )


def _too_many(wait: float, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, f"too many {what}; retry later", {"Retry-After": str(math.ceil(wait))}
    )


def require(scope: str) -> Callable[..., None]:
    """A dependency that admits requests whose API key has `scope` (or admin).

    Without configured keys the API is open (and `serve` binds only a loopback address).
    The key comes in `X-API-Key` or `Authorization: Bearer`, never in the URL. A client
    that sends too many wrong keys gets 429 for a while, and so does a key that makes
    too many requests. The key's id (the start of its digest) is kept on the request for
    the audit trail.
    """

    def check(
        request: Request,
        x_api_key: Annotated[str | None, Header(description="API key, when keys are configured.")] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> None:
        settings: Settings = request.app.state.settings
        keys = settings.keys
        if not keys:
            return
        guard: Guard = request.app.state.guard
        client = request.client.host if request.client else "unknown"
        wait = guard.failures.wait(client)
        if wait:
            raise _too_many(wait, "requests with a wrong API key")
        bearer = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
        key = x_api_key or bearer
        found = match(key, keys) if key else None
        if found is None:
            guard.failures.take(client)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown API key (X-API-Key header, or Authorization: Bearer)",
                {"WWW-Authenticate": "ApiKey"},
            )
        if scope not in keys[found] and "admin" not in keys[found]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")
        wait = guard.requests.take(found)
        if wait:
            raise _too_many(wait, "requests with this API key")
        request.state.key_id = found[:KEY_ID_LENGTH]

    return check


#: Hex digits of a key's digest that name it in the audit trail (never the key itself).
KEY_ID_LENGTH = 12
