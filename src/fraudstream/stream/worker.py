"""The stream worker: poll a batch -> read -> decide -> sinks -> commit.

A batch is committed only after its decisions reached the store and every sink (see
`checkpoint.py`). Bad messages go to the dead-letter sink with the reason; nothing is
dropped silently, and nothing behind them waits.

Writes are waited for late: batch N's decisions and its feature-state fold are sent,
N+1 is decided while the broker acknowledges them and Redis folds, and N's checkpoint
is settled then (its writes waited for, its offsets committed): while the database
inserts N+1 when the worker is behind its backlog, after N+1 is published when it keeps
up. Behind, the worker also takes the next batch early and scores it (`lookahead.py`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from fraudstream.decide.batch import DecideResult, ScoredAhead
from fraudstream.decide.service import DecisionService
from fraudstream.pending import Pending
from fraudstream.schema import Transaction
from fraudstream.store import refused_for_data
from fraudstream.stream.base import (
    LABELS,
    TRANSACTIONS,
    DeadLetter,
    DeadLetterSink,
    DecisionSink,
    Message,
    RebalancingSource,
    Source,
)
from fraudstream.stream.checkpoint import Backoff, Checkpoint, Pairs, retry
from fraudstream.stream.labels import store_labels
from fraudstream.stream.lookahead import NextBatch, take_next
from fraudstream.stream.messages import Reader, refused

__all__ = ["StreamWorker"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Part = list[tuple[Transaction, Message]]


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
    ) -> None:
        self.source = source
        self.service = service
        self.dead_letters = dead_letters
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.reader = Reader(max_message_bytes, max_future)
        self.backoff = Backoff()
        self.stop = threading.Event()
        self.processed = 0  # messages settled and committed
        self.alive = False
        self._checkpoint: Checkpoint | None = None  # the batch decided last, not committed yet
        self._next: NextBatch | None = None
        if isinstance(source, RebalancingSource):
            source.before_revoke = self._before_revoke

    def run(self) -> None:
        """Process batches until `stop` is set; the batch in hand is finished first."""
        self.alive = True
        try:
            # A batch taken ahead is the batch in hand too: it is finished before stopping.
            while not self.stop.is_set() or self._next is not None:
                try:
                    self.step()
                except Exception:
                    if not self.stop.is_set():
                        raise
                    self._next = None
                    log.warning("stopped with a batch unfinished: it was not committed and will be redelivered")
            try:
                self.settle()
            except Exception:
                log.warning("stopped with a batch unsettled: it was not committed and will be redelivered")
        finally:
            self.alive = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="fraudstream-worker", daemon=True)
        thread.start()
        return thread

    def step(self) -> int:
        """One batch: returns how many messages it took. The batch before it is settled meanwhile."""
        taken, self._next = self._next, None
        if taken is not None:
            messages = taken.messages
        else:
            # With a batch to settle, take only what has arrived; with nothing new, settle
            # it now rather than after the next wait.
            messages = self.source.poll(self.batch_size, 0 if self._checkpoint else self.max_wait)
            if not messages and self._checkpoint is not None:
                self.settle()
                messages = self.source.poll(self.batch_size, self.max_wait)
        lag = self.source.lag()
        if lag is not None:
            self.service.metrics.worker_lag.set(lag)
        if not messages:
            return 0
        checkpoint = Checkpoint(messages)
        letters: list[DeadLetter] = []
        behind = len(messages) >= self.batch_size
        unread = messages
        if taken is not None and taken.valid is not None:  # all transactions, read (and scored) when taken
            letters += taken.letters
            self._transactions(taken.valid, checkpoint, letters, behind, taken.scored)
            unread = []
        # Runs of consecutive transactions or labels, in arrival order: a label that came
        # before a transaction is folded before that transaction is scored.
        for topic, run in itertools.groupby(unread, key=lambda m: m.topic):
            run_messages = list(run)
            if topic == TRANSACTIONS:
                self._transactions(self.reader.transactions(run_messages, letters), checkpoint, letters, behind)
            elif topic == LABELS:
                store_labels(self.service, self.reader.labels(run_messages, letters), letters, self._retry)
            else:
                letters += [DeadLetter(m, "unknown_topic", f"no handler for topic {topic!r}") for m in run_messages]
        if letters:
            self._retry("dead letters", lambda: self.dead_letters.write(letters))
            for letter in letters:
                self.service.metrics.dead_letters.labels(reason=letter.reason).inc()
        self.settle()  # the batch before, unless it was settled while the database stored this one
        self._checkpoint = checkpoint
        return len(messages)

    def settle(self) -> None:
        """Wait for every write of the batch decided last, then commit it: while the next
        batch is stored, after the next batch, when idle, on stop or on revoke."""
        checkpoint, self._checkpoint = self._checkpoint, None
        if checkpoint is not None:
            checkpoint.settle(self.service, self.source, self.backoff, self.stop)
            self.processed += len(checkpoint.messages)

    def _before_revoke(self) -> None:
        self._next = None  # not ours for much longer: the next owner takes it from the last commit
        self.settle()

    def _transactions(
        self,
        valid: Part,
        checkpoint: Checkpoint,
        letters: list[DeadLetter],
        behind: bool,
        ahead: ScoredAhead | None = None,
    ) -> None:
        if not valid:
            return
        tries = iter([ahead])  # a retry scores afresh: the state may have moved
        try:
            parts = [(valid, self._retry("decide", lambda: self._decide(valid, behind, next(tries, None))))]
        except Exception as exc:
            if not refused_for_data(exc):
                raise
            parts = self._isolate(valid, letters)
        pairs: Pairs = []
        for part, (result, state) in parts:
            checkpoint.states.append(state)
            decided, conflicting = result.split(part)
            pairs += [(tx, d) for (tx, _), d in decided]
            # An id decided with another payload is refused, never published as this one's.
            letters += [
                DeadLetter(m, "conflicting_duplicate", "this transaction id was decided with another payload")
                for _, m in conflicting
            ]
        for sink in self.sinks:
            if pairs:
                sent = self._retry(sink.name, lambda sink=sink: sink.write(pairs))  # type: ignore[misc]
                checkpoint.sent.append((sink, pairs, sent))

    def _decide(self, part: Part, behind: bool, ahead: ScoredAhead | None) -> tuple[DecideResult, Pending[None]]:
        """One batch through the decision service's steps; its result, and its fold in flight."""
        transactions, created = [tx for tx, _ in part], [m.created_at for _, m in part]
        with self.service.begin(transactions, created, path="stream", ahead=ahead) as batch:
            stored = batch.store()
            if behind:
                # Behind its backlog: the next batch scored and the one before settled while
                # the database inserts this one. Keeping up, this one is published first.
                if self._next is None and not self.stop.is_set():
                    self._next = take_next(self.source, self.reader, self.service, self.batch_size, batch)
                self.settle()
            state = batch.fold(stored)
        return batch.publish(), state

    def _isolate(self, valid: Part, letters: list[DeadLetter]) -> list[tuple[Part, tuple[DecideResult, Pending[None]]]]:
        """Decide a batch the database refused for its data in halves, in order, down to the
        transactions it refuses alone: those go to the dead letters, the rest is decided."""
        decided = []
        parts = [valid]
        while parts:
            part = parts.pop(0)
            try:
                decided.append((part, self._retry("decide", lambda: self._decide(part, False, None))))  # noqa: B023
            except Exception as exc:
                if not refused_for_data(exc):
                    raise
                if len(part) == 1:
                    letters.append(DeadLetter(part[0][1], "rejected_by_store", refused(exc)))
                else:
                    parts[:0] = [part[: len(part) // 2], part[len(part) // 2 :]]
        return decided

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        return retry(what, action, self.backoff, self.stop, self.service.metrics)
