"""Where requests' decisions run: on the event loop when that is cheapest, else off it.

Deciding holds the CPU for as long as a batch takes; on the event loop, that long
nothing else is answered (liveness, live events, other requests). A hop to a thread
costs more than deciding one small transaction, though, so a small request is decided
on the loop when the decision service is free, and everything else in a few threads of
its own, behind a bounded queue: past it a request gets 503 and Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import anyio
import anyio.to_thread
from fastapi import HTTPException, status

from fraudstream.decide.service import DecisionService

__all__ = ["ScoringPool"]

T = TypeVar("T")

#: Bodies up to this size (a few transactions) are decided on the loop if the service is free.
INLINE_BYTES: Final = 8 * 1024


class ScoringPool:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads = threads
        self.queue = queue
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the event loop

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    def load(self) -> dict[str, int | bool]:
        """Requests in the threads and waiting for one (from any thread, for /readyz)."""
        stats = self._limiter.statistics() if self._limiter is not None else None
        deciding, waiting = (stats.borrowed_tokens, stats.tasks_waiting) if stats else (0, 0)
        return {"deciding": deciding, "waiting": waiting, "saturated": waiting >= self.queue}

    async def run(self, service: DecisionService, body_bytes: int, work: Callable[[], T]) -> T:
        if body_bytes <= INLINE_BYTES:
            with service.if_free() as free:
                if free:
                    return work()
        if self.limiter.statistics().tasks_waiting >= self.queue:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "too many requests waiting: retry shortly", {"Retry-After": "1"}
            )
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)
