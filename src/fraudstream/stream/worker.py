"""The stream worker: poll a batch -> validate -> decide -> sinks -> commit.

A batch is committed only after its decisions reached the store and every sink; a
failing sink or database is retried with backoff and nothing is committed meanwhile,
so a crash at any point means a redelivery, never a loss. Bad messages go to the
dead-letter sink with the reason; nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from fraudstream.schema import Label, Transaction
from fraudstream.service import DecisionService
from fraudstream.store import UnknownTransactionsError
from fraudstream.stream.base import LABELS, TRANSACTIONS, DeadLetter, DeadLetterSink, DecisionSink, Message, Source

__all__ = ["Backoff", "StreamWorker", "describe_errors"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def describe_errors(error: ValidationError) -> str:
    """Pydantic errors as one line a person reads: 'amount: Input should be ...; currency: ...'."""
    parts = []
    for e in error.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "message"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


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


class StreamWorker:
    def __init__(
        self,
        source: Source,
        service: DecisionService,
        dead_letters: DeadLetterSink,
        sinks: Sequence[DecisionSink] = (),
        *,
        batch_size: int = 500,
        max_wait: float = 0.005,
        max_message_bytes: int = 64 * 1024,
        backoff: Backoff | None = None,
    ) -> None:
        self.source = source
        self.service = service
        self.dead_letters = dead_letters
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.max_message_bytes = max_message_bytes
        self.backoff = backoff or Backoff()
        self.stop = threading.Event()
        self.processed = 0
        self.alive = False

    # -- running ------------------------------------------------------------------

    def run(self) -> None:
        """Process batches until `stop` is set; the batch in hand is finished first."""
        self.alive = True
        log.debug("stream worker started", extra={"batch_size": self.batch_size})
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                except Exception:
                    if not self.stop.is_set():
                        raise
                    log.warning("stopped with a batch unfinished: it was not committed and will be redelivered")
        finally:
            self.alive = False
            log.debug("stream worker stopped", extra={"processed": self.processed})

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="fraudstream-worker", daemon=True)
        thread.start()
        return thread

    def step(self) -> int:
        """One batch: returns how many messages it processed (and committed)."""
        messages = self.source.poll(self.batch_size, self.max_wait)
        lag = self.source.lag()
        if lag is not None:
            self.service.metrics.worker_lag.set(lag)
        if not messages:
            return 0
        letters: list[DeadLetter] = []
        # Runs of consecutive transactions or labels, in arrival order: a label that came
        # before a transaction is folded before that transaction is scored.
        for topic, run in itertools.groupby(messages, key=lambda m: m.topic):
            run_messages = list(run)
            if topic == TRANSACTIONS:
                self._transactions(run_messages, letters)
            elif topic == LABELS:
                self._labels(run_messages, letters)
            else:
                letters += [DeadLetter(m, "unknown_topic", f"no handler for topic {topic!r}") for m in run_messages]
        if letters:
            self._retry("dead letters", lambda: self.dead_letters.write(letters))
            for letter in letters:
                self.service.metrics.dead_letters.labels(reason=letter.reason).inc()
        self._retry("commit", lambda: self.source.commit(messages))
        self.processed += len(messages)
        return len(messages)

    # -- handling -----------------------------------------------------------------

    def _decode(self, message: Message, letters: list[DeadLetter]) -> Any | None:
        if len(message.value) > self.max_message_bytes:
            letters.append(DeadLetter(message, "too_large", f"{len(message.value)} bytes > {self.max_message_bytes}"))
            return None
        try:
            return json.loads(message.value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            letters.append(DeadLetter(message, "invalid_json", str(exc)))
            return None

    def _transactions(self, messages: list[Message], letters: list[DeadLetter]) -> None:
        valid: list[tuple[Transaction, Message]] = []
        for message in messages:
            payload = self._decode(message, letters)
            if payload is None:
                continue
            try:
                valid.append((Transaction.model_validate(payload), message))
            except ValidationError as exc:
                letters.append(DeadLetter(message, "invalid_transaction", describe_errors(exc)))
        if not valid:
            return
        transactions = [tx for tx, _ in valid]
        created = [m.created_at for _, m in valid]

        def decide_and_publish() -> None:
            result = self.service.decide(transactions, created, path="stream")
            pairs = list(zip(transactions, result.decisions, strict=True))
            for sink in self.sinks:
                self._retry(sink.name, lambda sink=sink: sink.write(pairs))  # type: ignore[misc]

        self._retry("decide", decide_and_publish)

    def _labels(self, messages: list[Message], letters: list[DeadLetter]) -> None:
        labels: list[tuple[Label, Message]] = []
        for message in messages:
            payload = self._decode(message, letters)
            if payload is None:
                continue
            try:
                labels.append((Label.model_validate(payload), message))
            except ValidationError as exc:
                letters.append(DeadLetter(message, "invalid_label", describe_errors(exc)))

        def store() -> None:
            nonlocal labels
            while labels:
                try:
                    self.service.label([label for label, _ in labels])
                    return
                except UnknownTransactionsError as exc:
                    unknown = set(exc.ids)
                    letters.extend(
                        DeadLetter(m, "unknown_transaction", f"no transaction {label.transaction_id!r}")
                        for label, m in labels
                        if label.transaction_id in unknown
                    )
                    labels = [(label, m) for label, m in labels if label.transaction_id not in unknown]

        self._retry("labels", store)

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Run `action` until it succeeds; on stop, give up (the batch is not committed)."""
        for attempt, delay in enumerate(self.backoff.delays(), start=1):
            try:
                return action()
            except Exception:
                if self.stop.is_set():
                    raise
                log.warning(
                    "%s failed, retrying", what, extra={"attempt": attempt, "retry_in_s": delay}, exc_info=attempt == 1
                )
                self.service.metrics.sink_retries.labels(sink=what).inc()
                self.backoff.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
