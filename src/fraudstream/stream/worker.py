"""The stream worker: poll a batch -> validate -> decide -> sinks -> commit.

A batch is committed only after its decisions reached the store and every sink; a
failing sink or database is retried with backoff and nothing is committed meanwhile,
so a crash at any point means a redelivery, never a loss. Bad messages go to the
dead-letter sink with the reason; nothing is dropped silently.

Sinks and the feature state are settled late: batch N's decisions are sent and its
state fold is sent, batch N+1 is decided while the broker acknowledges them and Redis
folds, and N is settled (acknowledged) and committed: while the database inserts N+1
when the worker is behind, after N+1 is published when it keeps up. The waits overlap
useful work, and the commit still comes after every sink.

Behind its backlog, the worker also looks ahead while the database inserts a batch:
the next batch is taken, validated and scored as if the batch being stored had been
folded (its feature-state rows as folded stand in for the stored ones), so its reads
and scoring overlap the insert. It is stored and published after the batch before it,
and its scoring stands only if nothing else was folded in between (a label, another
worker thread's batch, an API call); otherwise it is scored again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fraudstream.schema import Decision, Label, Transaction, received_now
from fraudstream.service import DecideResult, DecisionService, Prepared
from fraudstream.store import LabelsBeforePaymentError, UnknownTransactionsError, refused_for_data
from fraudstream.stream.base import (
    LABELS,
    TRANSACTIONS,
    DeadLetter,
    DeadLetterSink,
    DecisionSink,
    Message,
    RebalancingSource,
    Settle,
    Source,
)

__all__ = ["Backoff", "StreamWorker", "describe_errors"]

log = logging.getLogger(__name__)

T = TypeVar("T")
W = TypeVar("W", bound=BaseModel)


def describe_errors(error: ValidationError) -> str:
    """Pydantic errors as one line a person reads: 'amount: Input should be ...; currency: ...'."""
    parts = []
    for e in error.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "message"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def _refused(error: BaseException) -> str:
    # The class only: a database's message may quote the values it refused.
    return f"the database refused it ({type(error).__name__})"


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


@dataclass
class _Unsettled:
    """A decided batch whose sinks may not have acknowledged it yet, nor its offsets been committed."""

    messages: list[Message]
    sent: list[tuple[DecisionSink, list[tuple[Transaction, Decision]], Settle]] = field(default_factory=list)
    states: list[Settle] = field(default_factory=list)  # feature-state folds to wait for


@dataclass
class _Ahead:
    """Messages taken while the batch before was being stored; transactions alone are
    validated and scored then, the rest waits for its own step."""

    messages: list[Message]
    valid: list[tuple[Transaction, Message]] | None = None
    letters: list[DeadLetter] = field(default_factory=list)
    prepared: Prepared | None = None


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
        max_future: timedelta = timedelta(hours=24),
        backoff: Backoff | None = None,
    ) -> None:
        self.source = source
        self.service = service
        self.dead_letters = dead_letters
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.max_message_bytes = max_message_bytes
        self.max_future = max_future
        self.backoff = backoff or Backoff()
        self.stop = threading.Event()
        self.processed = 0  # messages settled and committed
        self.alive = False
        self._unsettled: _Unsettled | None = None
        self._ahead: _Ahead | None = None
        if isinstance(source, RebalancingSource):
            source.before_revoke = self._before_revoke

    # -- running ------------------------------------------------------------------

    def run(self) -> None:
        """Process batches until `stop` is set; the batch in hand is finished first."""
        self.alive = True
        log.debug("stream worker started", extra={"batch_size": self.batch_size})
        try:
            # A batch taken ahead is the batch in hand too: it is finished before stopping.
            while not self.stop.is_set() or self._ahead is not None:
                try:
                    self.step()
                except Exception:
                    if not self.stop.is_set():
                        raise
                    self._ahead = None
                    log.warning("stopped with a batch unfinished: it was not committed and will be redelivered")
            try:
                self.settle()
            except Exception:
                log.warning("stopped with a batch unsettled: it was not committed and will be redelivered")
        finally:
            self.alive = False
            log.debug("stream worker stopped", extra={"processed": self.processed})

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="fraudstream-worker", daemon=True)
        thread.start()
        return thread

    def step(self) -> int:
        """One batch: returns how many messages it took. The batch before it is settled meanwhile."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            messages = ahead.messages
        else:
            # With a batch to settle, take only what has arrived; with nothing new, settle
            # it now rather than after the next wait.
            messages = self.source.poll(self.batch_size, 0 if self._unsettled else self.max_wait)
            if not messages and self._unsettled is not None:
                self.settle()
                messages = self.source.poll(self.batch_size, self.max_wait)
        lag = self.source.lag()
        if lag is not None:
            self.service.metrics.worker_lag.set(lag)
        if not messages:
            return 0
        current = _Unsettled(messages)
        letters: list[DeadLetter] = []
        # Runs of consecutive transactions or labels, in arrival order: a label that came
        # before a transaction is folded before that transaction is scored.
        for topic, run in itertools.groupby(messages, key=lambda m: m.topic):
            run_messages = list(run)
            if topic == TRANSACTIONS:
                behind = len(messages) >= self.batch_size
                if ahead is not None and ahead.valid is not None:  # validated (and scored) ahead
                    letters += ahead.letters
                    self._transactions(ahead.valid, current, behind, letters, ahead.prepared)
                else:
                    self._transactions(self._valid_transactions(run_messages, letters), current, behind, letters)
            elif topic == LABELS:
                self._labels(run_messages, letters)
            else:
                letters += [DeadLetter(m, "unknown_topic", f"no handler for topic {topic!r}") for m in run_messages]
        if letters:
            self._retry("dead letters", lambda: self.dead_letters.write(letters))
            for letter in letters:
                self.service.metrics.dead_letters.labels(reason=letter.reason).inc()
        self.settle()  # the previous batch, unless a decide settled it while the database worked
        self._unsettled = current
        return len(messages)

    def settle(self) -> None:
        """Wait until every sink acknowledged the batch in hand, then commit it (idle, stop, revoke)."""
        batch, self._unsettled = self._unsettled, None
        if batch is None:
            return
        for state in batch.states:
            self._retry("feature state", lambda state=state: self.service.settle(state))  # type: ignore[misc]
        for sink, pairs, settle in batch.sent:
            self._settle(sink, pairs, settle)
        self._retry("commit", lambda: self.source.commit(batch.messages))
        self.processed += len(batch.messages)

    def _settle(self, sink: DecisionSink, pairs: list[tuple[Transaction, Decision]], settle: Settle) -> None:
        pending: Settle | None = settle

        def attempt() -> None:
            nonlocal pending
            if pending is None:  # the last send failed: send again (a duplicate is the same decision)
                pending = sink.write(pairs)
            try:
                pending()
            except Exception:
                pending = None
                raise

        self._retry(sink.name, attempt)

    # -- handling -----------------------------------------------------------------

    def _before_revoke(self) -> None:
        self._ahead = None  # not ours for much longer: the next owner takes it from the last commit
        self.settle()

    def _look_ahead(self) -> None:
        """Take what has arrived and, if it is all transactions, validate and score it."""
        if self._ahead is not None or self.stop.is_set():
            return
        messages = self.source.poll(self.batch_size, 0)
        if not messages:
            return
        self._ahead = ahead = _Ahead(messages)
        if any(m.topic != TRANSACTIONS for m in messages):
            return
        ahead.valid = self._valid_transactions(messages, ahead.letters)
        if not ahead.valid:
            return
        try:
            ahead.prepared = self.service.prepare_next([tx for tx, _ in ahead.valid])
        except Exception:  # scored in its own step instead, with its retries
            log.debug("scoring ahead failed", exc_info=True)

    def _valid_transactions(
        self, messages: list[Message], letters: list[DeadLetter]
    ) -> list[tuple[Transaction, Message]]:
        context = received_now(self.max_future)
        return [(tx, m) for m in messages if (tx := self._parse(m, Transaction, letters, context)) is not None]

    def _parse(self, message: Message, model: type[W], letters: list[DeadLetter], context: dict[str, Any]) -> W | None:
        """The message as `model`, or None with its dead letter: too large, not JSON, invalid."""
        if len(message.value) > self.max_message_bytes:
            letters.append(DeadLetter(message, "too_large", f"{len(message.value)} bytes > {self.max_message_bytes}"))
            return None
        invalid = f"invalid_{model.__name__.lower()}"
        try:
            # Straight from the bytes: pydantic's own JSON parser takes half the time of
            # json.loads followed by model_validate.
            return model.model_validate_json(message.value, context=context)
        except ValidationError as exc:
            not_json = any(e["type"] == "json_invalid" for e in exc.errors(include_url=False))
            letters.append(DeadLetter(message, "invalid_json" if not_json else invalid, describe_errors(exc)))
        except Exception as exc:  # a message that can never succeed must not stop the ones behind it
            log.warning("a message failed validation unexpectedly", exc_info=True)
            letters.append(DeadLetter(message, invalid, f"could not be read: {type(exc).__name__}"))
        return None

    def _transactions(
        self,
        valid: list[tuple[Transaction, Message]],
        batch: _Unsettled,
        behind: bool,
        letters: list[DeadLetter],
        prepared: Prepared | None = None,
    ) -> None:
        if not valid:
            return
        transactions = [tx for tx, _ in valid]
        created = [m.created_at for _, m in valid]

        def meanwhile() -> None:
            # Behind (a full batch), score the next batch and settle the previous one while
            # the database inserts this one; keeping up, publish this one first: both
            # would delay it (at 2k events/s, scoring ahead too gave a p50 1.13x higher).
            if behind:
                self._look_ahead()
                self.settle()

        def decide() -> DecideResult:
            nonlocal prepared
            ahead, prepared = prepared, None  # a retry scores afresh: the state may have moved
            return self.service.decide(
                transactions, created, path="stream", wait_for_state=False, meanwhile=meanwhile, prepared=ahead
            )

        try:
            parts = [(valid, self._retry("decide", decide))]
        except Exception as exc:
            if not refused_for_data(exc):
                raise
            parts = self._isolate(valid, letters)
        pairs: list[tuple[Transaction, Decision]] = []
        for part, result in parts:
            batch.states.append(result.state)
            # An id decided with another payload is refused, never published as this one's.
            refused = set(result.conflicts)
            letters += [
                DeadLetter(part[i][1], "conflicting_duplicate", "this transaction id was decided with another payload")
                for i in result.conflicts
            ]
            pairs += [
                (tx, d) for i, ((tx, _), d) in enumerate(zip(part, result.decisions, strict=True)) if i not in refused
            ]
        if not pairs:
            return
        for sink in self.sinks:
            settle = self._retry(sink.name, lambda sink=sink: sink.write(pairs))  # type: ignore[misc]
            batch.sent.append((sink, pairs, settle))

    def _isolate(
        self, valid: list[tuple[Transaction, Message]], letters: list[DeadLetter]
    ) -> list[tuple[list[tuple[Transaction, Message]], DecideResult]]:
        """Decide a batch the database refused for its data in halves, in order, down to the
        transactions it refuses alone: those go to the dead letters, the rest is decided."""
        decided = []
        parts = [valid]
        while parts:
            part = parts.pop(0)
            transactions = [tx for tx, _ in part]
            created = [m.created_at for _, m in part]
            try:
                result = self._retry(
                    "decide",
                    lambda: self.service.decide(transactions, created, path="stream", wait_for_state=False),  # noqa: B023
                )
            except Exception as exc:
                if not refused_for_data(exc):
                    raise
                if len(part) == 1:
                    letters.append(DeadLetter(part[0][1], "rejected_by_store", _refused(exc)))
                else:
                    parts[:0] = [part[: len(part) // 2], part[len(part) // 2 :]]
                continue
            decided.append((part, result))
        return decided

    def _labels(self, messages: list[Message], letters: list[DeadLetter]) -> None:
        labels: list[tuple[Label, Message]] = []
        context = received_now(self.max_future)
        for message in messages:
            label = self._parse(message, Label, letters, context)
            if label is not None:
                labels.append((label, message))
        try:
            self._retry("labels", lambda: self._store_labels(labels, letters))
        except Exception as exc:
            if not refused_for_data(exc):
                raise
            for one in [[pair] for pair in labels]:  # one at a time: which does the database refuse?
                try:
                    self._retry("labels", lambda one=one: self._store_labels(one, letters))  # type: ignore[misc]
                except Exception as exc:
                    if not refused_for_data(exc):
                        raise
                    letters.append(DeadLetter(one[0][1], "rejected_by_store", _refused(exc)))

    def _store_labels(self, labels: list[tuple[Label, Message]], letters: list[DeadLetter]) -> None:
        """Store labels; those of unknown transactions or reported before them become dead
        letters and leave `labels` (so that a retry does not letter them twice)."""
        while labels:
            try:
                self.service.label([label for label, _ in labels])
                return
            except (UnknownTransactionsError, LabelsBeforePaymentError) as exc:
                refused = set(exc.ids)
                reason, detail = (
                    ("unknown_transaction", "no such transaction is stored")
                    if isinstance(exc, UnknownTransactionsError)
                    else ("reported_before_payment", "reported_at is before its transaction's timestamp")
                )
                letters.extend(DeadLetter(m, reason, detail) for label, m in labels if label.transaction_id in refused)
                labels[:] = [(label, m) for label, m in labels if label.transaction_id not in refused]

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Run `action` until it succeeds; on stop, give up (the batch is not committed).

        A write the database refused for its data is not retried: it raises at once.
        """
        for attempt, delay in enumerate(self.backoff.delays(), start=1):
            try:
                return action()
            except Exception as exc:
                if self.stop.is_set() or refused_for_data(exc):
                    raise
                log.warning(
                    "%s failed, retrying", what, extra={"attempt": attempt, "retry_in_s": delay}, exc_info=attempt == 1
                )
                self.service.metrics.sink_retries.labels(sink=what).inc()
                self.backoff.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
