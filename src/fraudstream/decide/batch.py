"""One batch's life in the decision service, step by step, driven by its caller.

    with service.begin(transactions) as batch:   # scored; the service is held
        stored = batch.store()                   # decisions sent to the store, the fold worked out
        ...                                      # a stream worker scores its next batch here
        state = batch.fold(stored)               # stored; each decision known; the fold applied
    result = batch.publish()                     # counted and shown live; decisions in order

Its steps: SCORED -> STORING -> STORED -> FOLDED -> PUBLISHED; a step out of order raises.
The decisions are durable before the feature state folds the batch: a crash in between
means the batch comes again, and gets its stored decisions back. The fold is applied by
`fold` and waited for by its caller: the API before it answers, a stream worker before it
commits the batch's offsets.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fraudstream.decide.scorer import Prepared, Scorer
from fraudstream.features.state.base import Fold
from fraudstream.lifecycle.shadow import Challenger
from fraudstream.monitoring import LiveFeed, LiveStats, Metrics
from fraudstream.monitoring.drift import DriftMonitor
from fraudstream.pending import Pending
from fraudstream.rules.policy import Lists, Policy
from fraudstream.schema import Decision, Transaction
from fraudstream.store import Store

T = TypeVar("T")

__all__ = ["Batch", "DecideResult", "FoldLog", "OutOfOrderError", "ScoredAhead", "Step", "distinct", "same_payload"]


class Step(enum.Enum):
    SCORED = "scored"
    STORING = "storing"
    STORED = "stored"
    FOLDED = "folded"
    PUBLISHED = "published"


class OutOfOrderError(RuntimeError):
    pass


@dataclass
class DecideResult:
    decisions: list[Decision]  # one per input transaction, in order
    fresh: list[tuple[Transaction, Decision]] = field(default_factory=list)  # decided by this batch
    replayed: int = 0  # transactions decided before: their stored decision came back
    #: Positions of transactions whose id was decided (or comes earlier in the batch) with
    #: another payload: their entry in `decisions` is that other payload's decision.
    conflicts: list[int] = field(default_factory=list)

    def split(self, items: Sequence[T]) -> tuple[list[tuple[T, Decision]], list[T]]:
        """The input's items paired with their decisions, and the items in conflict apart."""
        conflicts = set(self.conflicts)
        paired = enumerate(zip(items, self.decisions, strict=True))
        return [pair for i, pair in paired if i not in conflicts], [items[i] for i in self.conflicts]


@dataclass
class FoldLog:
    """The batch whose fold the feature state applied last (None: a label's, or not known)."""

    last: Batch | None = None


@dataclass(frozen=True)
class ScoredAhead:
    """A batch scored while the batch before it was being stored, as if that one were folded."""

    prepared: Prepared
    after: Batch
    version: str  # the model it was scored with


class Parts(Protocol):
    """What a batch works with: the decision service's scorer, store and outputs."""

    scorer: Scorer
    store: Store
    metrics: Metrics
    feed: LiveFeed
    stats: LiveStats
    folds: FoldLog
    drift: DriftMonitor | None


def same_payload(a: Transaction, b: Transaction) -> bool:
    """The same payment: every field equal (times as instants, whatever their offset)."""
    return vars(a) == vars(b)


def distinct(transactions: Sequence[Transaction]) -> list[Transaction]:
    """The first transaction of each id, in order."""
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


class Batch:
    """A batch of transactions on its way from scored to published (see the module)."""

    def __init__(
        self,
        parts: Parts,
        transactions: Sequence[Transaction],
        unique: list[Transaction],
        prepared: Prepared,
        created_at: Sequence[float | None] | None,
        path: str,
        policy: Policy | None = None,
        lists: Lists | None = None,
        challenger: Challenger | None = None,
    ) -> None:
        self.parts = parts
        self.challenger = challenger
        self.policy = policy or Policy()
        self.lists = lists or {}
        self.transactions = transactions
        self.unique = unique  # the first of each id: what is scored, stored and folded
        self.prepared = prepared
        self.created_at = created_at
        self.path = path
        self.step = Step.SCORED
        self._scored: list[Decision] = []
        self._stored: Pending[set[str]] | None = None
        self._fold: Fold | None = None
        self._result: DecideResult | None = None

    def _advance(self, expected: Step, to: Step) -> None:
        if self.step is not expected:
            raise OutOfOrderError(f"a batch goes {to.value} from {expected.value}; this one is {self.step.value}")
        self.step = to

    def store(self) -> Pending[set[str]]:
        """Send the decisions to the store; the fold is worked out while the database inserts."""
        self._advance(Step.SCORED, Step.STORING)
        scorer = self.parts.scorer
        verdicts = scorer.verdicts(self.prepared.scored, self.policy, self.lists)
        self._scored = self.prepared.scored.decisions(scorer.version, verdicts, self.policy.version)
        self._stored = self.parts.store.send_decisions(list(zip(self.unique, self._scored, strict=True)))
        self._fold = scorer.stage(self.prepared)
        return self._stored

    def fold(self, stored: Pending[set[str]]) -> Pending[None]:
        """Wait until the store holds the decisions, work out each transaction's decision
        (this batch's, or the one stored before), count them, and fold the batch into the
        feature state; the result waits until the state holds it.

        Every transaction is folded, replays included: the feature state has its own
        idempotence, so an event it already holds is not folded again, and one it lost
        (a crash between the database and the state) is.
        """
        if self.step is not Step.STORING or stored is not self._stored or self._fold is None:
            raise OutOfOrderError(f"a batch folds what it stored; this one is {self.step.value}")
        inserted = stored.wait()  # durable first ...
        self.step = Step.STORED
        folds = self.parts.folds
        folds.last = None
        state = self._fold.apply()  # ... then the feature state
        folds.last = self
        self.step = Step.FOLDED
        self._result = self._outcome(inserted)
        timings = self.prepared.scored.timings
        self.parts.metrics.observe_decisions([d for _, d in self._result.fresh], timings.features_ms, timings.model_ms)
        return state

    def _outcome(self, inserted: set[str]) -> DecideResult:
        """Each transaction's decision: this batch's where it stored one, else the one stored
        before (a retry or a replay), and which ids came with another payload."""
        store = self.parts.store
        decided = {d.transaction_id: d for d in self._scored if d.transaction_id in inserted}
        earlier = [tx.transaction_id for tx in self.unique if tx.transaction_id not in inserted]
        stored_before: dict[str, Transaction] = {}
        if earlier:
            decided.update(store.decisions_for(earlier))
            stored_before = store.transactions_for(earlier)
        ids = [tx.transaction_id for tx in self.transactions]
        conflicts = _conflicts(self.transactions, stored_before) if earlier or len(self.unique) < len(ids) else []
        fresh = [(tx, decided[tx.transaction_id]) for tx in self.unique if tx.transaction_id in inserted]
        refused = set(conflicts)
        replayed = sum(1 for n, i in enumerate(ids) if i not in inserted and n not in refused)
        return DecideResult([decided[i] for i in ids], fresh, replayed, conflicts)

    def publish(self) -> DecideResult:
        """Count replays and conflicts and show the new decisions live; the decisions, one
        per transaction, in order."""
        self._advance(Step.FOLDED, Step.PUBLISHED)
        assert self._result is not None
        result, metrics = self._result, self.parts.metrics
        if result.replayed:
            metrics.replayed.inc(result.replayed)
        if result.conflicts:
            metrics.conflicts.labels(path=self.path).inc(len(result.conflicts))
        if result.fresh:
            self._show(result.fresh)
            self._watch_drift()
            self._shadow(result.fresh)
        return result

    def _shadow(self, fresh: list[tuple[Transaction, Decision]]) -> None:
        """The challenger's scores of the new decisions, stored beside them (never published)."""
        if self.challenger is None:
            return
        ids = [tx.transaction_id for tx, _ in fresh]
        rows = self.challenger.rows(self.prepared, ids, self.prepared.scored.decided_at)
        self.parts.store.champions.save_shadow(rows)

    def _watch_drift(self) -> None:
        """The batch's features and scores in the drift window; the gauges once a second."""
        drift = self.parts.drift
        if drift is None:
            return
        scored = self.prepared.scored
        drift.observe(scored.features, scored.scores)
        if drift.due(1.0):
            self.parts.metrics.observe_drift(*drift.psi())

    def _show(self, fresh: list[tuple[Transaction, Decision]]) -> None:
        now = time.time()
        born = {tx.transaction_id: c for tx, c in zip(self.transactions, self.created_at or [], strict=False)}
        latencies: list[float | None] = []
        for tx, _ in fresh:
            started = born.get(tx.transaction_id)
            latencies.append(None if started is None else (now - started) * 1000)
        histogram = self.parts.metrics.end_to_end.labels(path=self.path)
        for latency in latencies:
            if latency is not None:
                histogram.observe(latency / 1000)
        self.parts.feed.publish([(tx, d, lat) for (tx, d), lat in zip(fresh, latencies, strict=True)])
        self.parts.stats.record(
            [str(d.outcome) for _, d in fresh],
            [d.score for _, d in fresh],
            [lat for lat in latencies if lat is not None],
        )
