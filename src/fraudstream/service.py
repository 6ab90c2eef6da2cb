"""The decision service: transactions in, decisions scored, stored, published; labels folded back.

The HTTP API and the stream workers both go through `DecisionService.decide`, so a
decision is made, stored and published the same way whichever door the transaction
came in by.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fraudstream.features.state.base import Settle, settled
from fraudstream.monitoring import LiveFeed, LiveStats, Metrics
from fraudstream.schema import Decision, Label, Outcome, Transaction
from fraudstream.scoring import PendingBatch, Scorer
from fraudstream.store import Store

__all__ = ["DecideResult", "DecisionService", "Prepared", "decision_event", "same_payload"]

log = logging.getLogger(__name__)

#: Label sources counted by name in the metrics; any other is "other" (a free-text label
#: value would make a series per value: 10,001 sources made a scrape 1.4 MB).
LABEL_SOURCES = frozenset({"api", "analyst", "chargeback", "issuer", "customer"})


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
        "rules": list(decision.rules),
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


@dataclass
class DecideResult:
    decisions: list[Decision]  # one per input transaction, in order
    fresh: list[tuple[Transaction, Decision]] = field(default_factory=list)  # decided by this call
    replayed: int = 0  # transactions decided before: their stored decision came back
    state: Settle = settled  # waits until the feature state holds the batch (see `decide`)
    #: Positions of transactions whose id was decided (or comes earlier in the batch) with
    #: another payload: their entry in `decisions` is that other payload's decision.
    conflicts: list[int] = field(default_factory=list)


@dataclass
class Prepared:
    """A batch scored ahead, while the batch before it was being stored (`prepare_next`)."""

    pending: PendingBatch
    after: PendingBatch  # the batch whose fold it counts on: valid if that was the last one


def same_payload(a: Transaction, b: Transaction) -> bool:
    """The same payment: every field equal (times as instants, whatever their offset)."""
    return vars(a) == vars(b)


def _distinct(transactions: Sequence[Transaction]) -> list[Transaction]:
    first: dict[str, Transaction] = {}
    for tx in transactions:
        first.setdefault(tx.transaction_id, tx)
    return list(first.values())


def _conflicts(transactions: Sequence[Transaction], stored: Mapping[str, Transaction]) -> list[int]:
    """Positions whose payload differs from the one their id stands for: the stored
    transaction if it was decided before, else the first of the batch with that id."""
    first: dict[str, Transaction] = {}
    conflicts = []
    for i, tx in enumerate(transactions):
        original = stored.get(tx.transaction_id) or first.setdefault(tx.transaction_id, tx)
        if original is not tx and not same_payload(original, tx):
            conflicts.append(i)
    return conflicts


class DecisionService:
    """Scores, stores and publishes, one batch at a time (a lock keeps feature state serial)."""

    def __init__(
        self,
        scorer: Scorer,
        store: Store,
        metrics: Metrics | None = None,
        feed: LiveFeed | None = None,
        stats: LiveStats | None = None,
    ) -> None:
        self.scorer = scorer
        self.store = store
        self.metrics = metrics or Metrics()
        self.feed = feed or LiveFeed(encode=decision_event, flagged=lambda item: item[1].outcome != Outcome.APPROVE)
        self.stats = stats or LiveStats()
        self.metrics.set_model(scorer.version)
        # Re-entrant: a stream worker settles its previous batch (which takes the lock)
        # while the database inserts the batch it is deciding.
        self._lock = threading.RLock()
        self._storing: PendingBatch | None = None  # staged, its decisions being stored
        self._last_fold: PendingBatch | None = None  # the latest fold (None: a label's, or unknown)

    @property
    def model(self) -> Any:
        return self.scorer.model

    def decide(
        self,
        transactions: Sequence[Transaction],
        created_at: Sequence[float | None] | None = None,
        path: str = "api",
        clock: Callable[[], float] = time.time,
        wait_for_state: bool = True,
        meanwhile: Callable[[], None] | None = None,
        prepared: Prepared | None = None,
    ) -> DecideResult:
        """Decisions for a batch, each stored before it is returned or published.

        A transaction id decided before gets its stored decision back (a retry or a
        replay after a crash); a repeated id within the batch is decided once. An id
        sent again with another payload is not decided again either: its position is
        in `result.conflicts`, for the caller to refuse (409, or a dead letter).
        Without `wait_for_state`, the feature state may still be folding the batch on
        return: the caller settles `result.state` (with `settle`) before it counts the
        batch as done, as a stream worker does before it commits offsets. `meanwhile`
        runs while the database inserts the batch: a worker settles the batch before,
        and scores the next one (`prepare_next`), which it passes back as `prepared`.
        """
        if not transactions:
            return DecideResult([])
        ids = [tx.transaction_id for tx in transactions]
        unique = _distinct(transactions)
        with self._lock:
            # Every transaction goes through the features, replays included: the feature
            # state has its own idempotence, so an event it already holds is not folded
            # again, and one it lost (a crash between the database and the state) is.
            # A batch scored ahead stands if the state is what it counted on: the batch
            # before folded last (not a label, another worker's batch, or an earlier try).
            if (
                prepared is not None
                and prepared.after is self._last_fold
                and [tx.transaction_id for tx in prepared.pending.scored.transactions]
                == [tx.transaction_id for tx in unique]
            ):
                pending = prepared.pending
            else:
                pending = self.scorer.prepare(unique)
            if prepared is not None:
                self.metrics.scored_ahead.labels(result="used" if pending is prepared.pending else "stale").inc()
            scored = pending.scored.decisions(self.scorer.version)
            stored = self.store.send_decisions(list(zip(unique, scored, strict=True)))
            try:
                fold = self.scorer.stage(pending)  # worked out while the database inserts
                self._storing = pending
                if meanwhile is not None:
                    meanwhile()
            finally:
                self._storing = None
                inserted = stored()  # durable first ...
            self._last_fold = None
            state = fold()  # ... then the feature state
            self._last_fold = pending
            if wait_for_state:
                state()
                state = settled
            decided = {d.transaction_id: d for d in scored if d.transaction_id in inserted}
            earlier = [tx.transaction_id for tx in unique if tx.transaction_id not in inserted]
            stored_before: dict[str, Transaction] = {}
            if earlier:  # decided before: the stored decision stands
                decided.update(self.store.decisions_for(earlier))
                stored_before = self.store.transactions_for(earlier)
            conflicts = _conflicts(transactions, stored_before) if earlier or len(unique) < len(ids) else []
            fresh = [(tx, decided[tx.transaction_id]) for tx in unique if tx.transaction_id in inserted]
            timings = pending.scored.timings
            self.metrics.observe_decisions([d for _, d in fresh], timings.features_ms, timings.model_ms)
        refused = set(conflicts)
        replayed = sum(1 for n, i in enumerate(ids) if i not in inserted and n not in refused)
        if replayed:
            self.metrics.replayed.inc(replayed)
        if conflicts:
            self.metrics.conflicts.labels(path=path).inc(len(conflicts))
        self._publish(fresh, transactions, created_at, path, clock)
        return DecideResult([decided[i] for i in ids], fresh, replayed, state, conflicts)

    def prepare_next(self, transactions: Sequence[Transaction]) -> Prepared:
        """Score the batch after the one being stored, as if its fold were applied.

        Only from `decide`'s `meanwhile`: the next batch's reads and scoring overlap
        the database's insert of this one, rather than waiting for it and its fold.
        """
        with self._lock:
            ahead = self._storing
            assert ahead is not None, "prepare_next runs while a batch is being stored"
            return Prepared(self.scorer.prepare(_distinct(transactions), ahead=ahead), after=ahead)

    @contextmanager
    def if_free(self) -> Iterator[bool]:
        """Whether no batch is being decided now; if so, it holds the service until the block ends."""
        free = self._lock.acquire(blocking=False)
        try:
            yield free
        finally:
            if free:
                self._lock.release()

    def settle(self, state: Settle) -> None:
        """Wait for a `decide(..., wait_for_state=False)` batch's feature-state fold."""
        with self._lock:  # the state's connection is the lock holder's
            state()

    def _publish(
        self,
        fresh: list[tuple[Transaction, Decision]],
        transactions: Sequence[Transaction],
        created_at: Sequence[float | None] | None,
        path: str,
        clock: Callable[[], float],
    ) -> None:
        if not fresh:
            return
        now = clock()
        born = {tx.transaction_id: c for tx, c in zip(transactions, created_at or [], strict=False)}
        latencies: list[float | None] = []
        for tx, _ in fresh:
            started = born.get(tx.transaction_id)
            latencies.append(None if started is None else (now - started) * 1000)
        histogram = self.metrics.end_to_end.labels(path=path)
        for latency in latencies:
            if latency is not None:
                histogram.observe(latency / 1000)
        self.feed.publish([(tx, d, lat) for (tx, d), lat in zip(fresh, latencies, strict=True)])
        self.stats.record(
            [str(d.outcome) for _, d in fresh],
            [d.score for _, d in fresh],
            [lat for lat in latencies if lat is not None],
        )

    def label(self, labels: Sequence[Label], key_id: str | None = None) -> list[Label]:
        """Store labels (all or nothing; `key_id`: the API key that gave them) and fold the new ones."""
        new = self.store.add_labels(labels, key_id)
        self._learn(new)
        return new

    def review(
        self, transaction_id: str, verdict: str, analyst: str | None, note: str | None, key_id: str | None = None
    ) -> Label:
        """An analyst's verdict: stored with the label it implies, which is folded like any other."""
        label, new = self.store.review(transaction_id, verdict, analyst, note, key_id)
        self._learn([label] if new else [])
        return label

    def _learn(self, labels: Sequence[Label]) -> None:
        if not labels:
            return
        transactions = self.store.transactions_for([label.transaction_id for label in labels])
        with self._lock:
            self._last_fold = None
            self.scorer.learn([(label, transactions[label.transaction_id]) for label in labels])
        for label in labels:
            source = label.source or "api"
            self.metrics.labels.labels(
                is_fraud=str(label.is_fraud).lower(), source=source if source in LABEL_SOURCES else "other"
            ).inc()

    def peek(self, transactions: Sequence[Transaction]) -> Any:
        with self._lock:
            return self.scorer.peek(transactions)
