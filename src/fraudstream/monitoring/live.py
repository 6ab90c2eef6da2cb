"""What the dashboard shows live: a feed of decisions (for SSE) and rolling statistics."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from fraudstream.schema import Decision, Outcome, Transaction

__all__ = ["LiveFeed", "LiveStats", "decision_event", "decision_feed"]

SCORE_BINS = 20
TIMELINE_SECONDS = 10  # one point of the timeline charts
TIMELINE_POINTS = 60
_CLOSED = object()  # sentinel that ends a subscription


class LiveFeed:
    """Fan-out of decisions to async subscribers (SSE), fed from any thread.

    Items are turned into JSON-ready dicts (`encode`) only when someone reads them. At
    high rates a batch keeps every flagged item (`flagged`) and a sample of `sample`
    others: a person watching a feed cannot read ten thousand rows a second, and
    encoding them all would cost more than scoring them. A slow subscriber loses items
    rather than slowing the pipeline down.
    """

    def __init__(
        self,
        encode: Callable[[Any], dict[str, Any]] = lambda item: item,
        flagged: Callable[[Any], bool] = lambda item: False,
        recent: int = 100,
        sample: int = 50,
        queue_size: int = 1_000,
    ) -> None:
        self._encode = encode
        self._is_flagged = flagged
        self._sample = sample
        self._recent: deque[Any] = deque(maxlen=recent)
        self._flagged: deque[Any] = deque(maxlen=recent)
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = set()
        self._lock = threading.Lock()
        self._queue_size = queue_size
        self._closed = False
        self.dropped = 0

    def publish(self, items: list[Any]) -> None:
        flags = [self._is_flagged(item) for item in items]
        flagged = [item for item, flag in zip(items, flags, strict=True) if flag]
        if len(items) > self._sample:
            others = [item for item, flag in zip(items, flags, strict=True) if not flag][: self._sample]
            items = others + flagged
        with self._lock:
            self._recent.extend(items)
            self._flagged.extend(flagged)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(self._offer, queue, items)
            except RuntimeError:  # the subscriber's loop is closed
                self._drop(loop, queue)

    def close(self) -> None:
        """End every subscription (server shutdown): open streams finish instead of hanging."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            with contextlib.suppress(RuntimeError):  # that subscriber's loop is already closed
                loop.call_soon_threadsafe(queue.put_nowait, _CLOSED)

    def _offer(self, queue: asyncio.Queue[Any], items: list[Any]) -> None:
        for item in items:
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped += 1

    def _drop(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        with self._lock:
            self._subscribers.discard((loop, queue))

    def recent(self, flagged_only: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._flagged if flagged_only else self._recent)
        return [self._encode(item) for item in items]

    async def subscribe(self, replay: bool = True) -> AsyncIterator[dict[str, Any]]:
        """Items as they come (after the recent ones, when `replay`), until the feed closes."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self._queue_size)
        key = (asyncio.get_running_loop(), queue)
        with self._lock:
            backlog = list(self._recent) if replay else []
            self._subscribers.add(key)
        try:
            for item in backlog:
                yield self._encode(item)
            while not self._closed:
                item = await queue.get()
                if item is _CLOSED:
                    return
                yield self._encode(item)
        finally:
            self._drop(*key)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


class LiveStats:
    """Rolling counters: throughput, outcomes, score histogram, latency, a 10-minute timeline."""

    def __init__(self, window: int = 2_000, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._scores: deque[float] = deque(maxlen=window)
        self._latencies: deque[float] = deque(maxlen=window)
        self._arrivals: deque[tuple[float, int]] = deque()  # (second, count)
        self._timeline: dict[int, list[Any]] = {}  # bucket -> [count, flagged, latencies]
        self.totals = {"approve": 0, "review": 0, "decline": 0}
        self.started = clock()

    def record(self, outcomes: list[str], scores: list[float], latencies_ms: list[float]) -> None:
        now = self._clock()
        second = int(now)
        bucket = second // TIMELINE_SECONDS
        with self._lock:
            for outcome in outcomes:
                self.totals[outcome] = self.totals.get(outcome, 0) + 1
            self._scores.extend(scores)
            self._latencies.extend(latencies_ms)
            if self._arrivals and self._arrivals[-1][0] == second:
                self._arrivals[-1] = (second, self._arrivals[-1][1] + len(outcomes))
            else:
                self._arrivals.append((second, len(outcomes)))
            while self._arrivals and self._arrivals[0][0] < second - 60:
                self._arrivals.popleft()
            point = self._timeline.setdefault(bucket, [0, 0, []])
            point[0] += len(outcomes)
            point[1] += sum(o != "approve" for o in outcomes)
            point[2].extend(latencies_ms)
            for old in [b for b in self._timeline if b <= bucket - TIMELINE_POINTS]:
                del self._timeline[old]

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            recent = sum(n for s, n in self._arrivals if s >= int(now) - 10)
            span = min(10.0, max(now - self.started, 1.0))
            scores = np.array(self._scores) if self._scores else np.empty(0)
            latencies = np.array(self._latencies) if self._latencies else np.empty(0)
            timeline = [
                {
                    "t": bucket * TIMELINE_SECONDS,
                    "events": point[0],
                    "flagged_rate": point[1] / point[0] if point[0] else 0.0,
                    "p50_ms": float(np.percentile(point[2], 50)) if point[2] else None,
                    "p99_ms": float(np.percentile(point[2], 99)) if point[2] else None,
                }
                for bucket, point in sorted(self._timeline.items())
            ]
            totals = dict(self.totals)
        total = sum(totals.values())
        return {
            "events_per_s": recent / span,
            "totals": totals,
            "decisions": total,
            "flagged_rate": (totals.get("review", 0) + totals.get("decline", 0)) / total if total else 0.0,
            "score_histogram": np.histogram(scores, bins=SCORE_BINS, range=(0.0, 1.0))[0].tolist(),
            "latency_ms": {
                "p50": float(np.percentile(latencies, 50)) if len(latencies) else None,
                "p99": float(np.percentile(latencies, 99)) if len(latencies) else None,
            },
            "timeline": timeline,
        }


def decision_event(item: tuple[Transaction, Decision, float | None]) -> dict[str, Any]:
    """A decision with what the live views need of its transaction (one SSE event)."""
    tx, decision, latency_ms = item
    return {
        "transaction_id": decision.transaction_id,
        "customer_id": decision.customer_id,
        "score": decision.score,
        "outcome": str(decision.outcome),
        "reasons": [
            {"feature": r.feature, "value": r.value, "contribution": r.contribution, "text": r.text}
            for r in decision.reasons
        ],
        "rules": [{"id": h.id, "action": h.action, "mode": h.mode} for h in decision.rules],
        "ruleset_version": decision.ruleset_version,
        "model_version": decision.model_version,
        "decided_at": decision.decided_at.isoformat(),
        "timings": {"total_ms": decision.timings.total_ms},
        "timestamp": tx.timestamp.isoformat(),
        "amount": tx.amount,
        "currency": tx.currency,
        "merchant_id": tx.merchant_id,
        "merchant_category": tx.merchant_category,
        "channel": tx.channel.value,
        "country": tx.country,
        "latitude": tx.latitude,
        "longitude": tx.longitude,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
    }


def decision_feed() -> LiveFeed:
    """The feed of decisions the dashboard and `/v1/events` read: flagged ones are all kept."""
    return LiveFeed(encode=decision_event, flagged=lambda item: item[1].outcome != Outcome.APPROVE)
