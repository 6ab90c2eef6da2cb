"""What lets a stream worker commit a batch: its writes waited for, failures retried.

A batch's offsets are committed only once its decisions are in the store (before they
were published), its fold is in the feature state and every sink acknowledged it. A
write that fails is retried with backoff and nothing is committed meanwhile, so a crash
at any point means a redelivery, never a loss. Only passing faults are retried: a write
the database refused for what is in it raises at once (no retry could succeed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from fraudstream.decide.service import DecisionService
from fraudstream.monitoring import Metrics
from fraudstream.pending import Pending
from fraudstream.schema import Decision, Transaction
from fraudstream.store import refused_for_data
from fraudstream.stream.base import DecisionSink, Message, Source

__all__ = ["Backoff", "Checkpoint", "Pairs", "retry"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Backoff:
    """Exponential backoff between retries of a failing batch."""

    first: float = 0.05
    factor: float = 2.0
    longest: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.longest)


def retry(what: str, action: Callable[[], T], backoff: Backoff, stop: threading.Event, metrics: Metrics) -> T:
    """Run `action` until it succeeds; on stop, give up (the batch is not committed).

    A write the database refused for its data is not retried: it raises at once.
    """
    for attempt, delay in enumerate(backoff.delays(), start=1):
        try:
            return action()
        except Exception as exc:
            if stop.is_set() or refused_for_data(exc):
                raise
            log.warning(
                "%s failed, retrying", what, extra={"attempt": attempt, "retry_in_s": delay}, exc_info=attempt == 1
            )
            metrics.sink_retries.labels(sink=what).inc()
            backoff.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


Pairs = list[tuple[Transaction, Decision]]


@dataclass
class Checkpoint:
    """A decided batch: its messages, and its writes that may still be in flight."""

    messages: list[Message]
    states: list[Pending[None]] = field(default_factory=list)  # feature-state folds
    sent: list[tuple[DecisionSink, Pairs, Pending[None]]] = field(default_factory=list)

    def settle(
        self,
        service: DecisionService,
        source: Source,
        backoff: Backoff,
        stop: threading.Event,
    ) -> None:
        """Wait for every write of the batch (a failed sink write is sent again), then commit its offsets."""
        metrics = service.metrics
        for state in self.states:
            retry("feature state", lambda state=state: service.wait_for_state(state), backoff, stop, metrics)  # type: ignore[misc]
        for sink, pairs, sent in self.sent:
            attempts = _Resend(sink, pairs, sent)
            retry(sink.name, attempts.wait, backoff, stop, metrics)
        retry("commit", lambda: source.commit(self.messages), backoff, stop, metrics)


class _Resend:
    """A sink's write waited for; if it failed, the next wait sends it again (a
    duplicate is the same decision)."""

    def __init__(self, sink: DecisionSink, pairs: Pairs, sent: Pending[None]) -> None:
        self.sink, self.pairs = sink, pairs
        self.sent: Pending[None] | None = sent

    def wait(self) -> None:
        if self.sent is None:
            self.sent = self.sink.write(self.pairs)
        try:
            self.sent.wait()
        except Exception:
            self.sent = None
            raise
