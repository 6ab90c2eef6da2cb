"""The live side: a Server-Sent Events feed of decisions and rolling statistics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.dependencies import get_runtime, require
from fraudstream.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["live"], dependencies=[Depends(require("read"))], responses=answers(*AUTH))

KEEPALIVE_SECONDS = 15.0


@router.get("/events", response_class=EventSourceResponse)
async def events(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)], replay: bool = True
) -> AsyncIterator[ServerSentEvent]:
    """Decisions as they are made (`event: decision`), after the latest ones when `replay`."""
    stream = runtime.service.feed.subscribe(replay=replay)
    # One pending read at a time, never cancelled by the keepalive timer: cancelling it
    # would close the subscription.
    pending: asyncio.Future[dict[str, Any]] | None = None
    try:
        while not await request.is_disconnected():
            if pending is None:
                pending = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ServerSentEvent(comment="keepalive")
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:  # the server is shutting down
                return
            finally:
                pending = None
            yield ServerSentEvent(data=item, event="decision", id=item["transaction_id"])
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await stream.aclose()  # type: ignore[attr-defined]


@router.get("/stats")
def stats(runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """What the dashboard's counters and charts show: throughput, outcomes, scores, latency."""
    service = runtime.service
    return {
        **service.stats.snapshot(),
        "replayed": service.metrics.replayed_count(),
        "model_version": service.version,
        "thresholds": {"review": service.model.thresholds.review, "decline": service.model.thresholds.decline},
        "lag": runtime.lag(),
        "workers_alive": runtime.workers_alive,
        "subscribers": service.feed.subscribers,
        "drift": None if service.drift is None else service.drift.top(),
    }
