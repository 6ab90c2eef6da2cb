"""The live side: a Server-Sent Events feed of decisions and rolling statistics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from fraudstream.api.dependencies import get_runtime, require
from fraudstream.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["live"], dependencies=[Depends(require("read"))])

KEEPALIVE_SECONDS = 15.0


@router.get("/events", response_class=EventSourceResponse)
async def events(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)], replay: bool = True
) -> AsyncIterator[ServerSentEvent]:
    """Decisions as they are made (`event: decision`), after the latest ones when `replay`."""
    stream = runtime.service.feed.subscribe(replay=replay).__aiter__()
    try:
        while not await request.is_disconnected():
            try:
                item = await asyncio.wait_for(anext(stream), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEvent(comment="keepalive")
                continue
            yield ServerSentEvent(data=item, event="decision", id=item["transaction_id"])
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


@router.get("/stats")
def stats(runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """What the dashboard's counters and charts show: throughput, outcomes, scores, latency."""
    service = runtime.service
    return {
        **service.stats.snapshot(),
        "model_version": service.scorer.version,
        "thresholds": {"review": service.model.thresholds.review, "decline": service.model.thresholds.decline},
        "lag": runtime.source.lag(),
        "workers_alive": runtime.workers_alive,
        "subscribers": service.feed.subscribers,
    }
