"""The decision service: transactions in, decisions scored, stored and published; labels folded back.

The HTTP API and the stream workers both decide through it: the API with `decide`, a
worker step by step (`begin`, then the batch's steps, see `batch.py`), so a decision is
made, stored and published the same way whichever door the transaction came in by.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from fraudstream.decide.batch import Batch, DecideResult, FoldLog, OutOfOrderError, ScoredAhead, Step, distinct
from fraudstream.decide.scorer import Scorer
from fraudstream.lifecycle.in_force import ChallengerInForce, ModelInForce
from fraudstream.monitoring import LiveFeed, LiveStats, Metrics, decision_feed
from fraudstream.monitoring.drift import DriftMonitor
from fraudstream.pending import Pending
from fraudstream.rules.in_force import PolicyInForce
from fraudstream.schema import Label, Transaction
from fraudstream.store import Store, UnknownTransactionsError

__all__ = ["DecisionService"]

log = logging.getLogger(__name__)

#: Label sources counted by name in the metrics; any other is "other" (a free-text label
#: value would make a series per value).
LABEL_SOURCES = frozenset({"api", "analyst", "chargeback", "issuer", "customer"})


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
        self.feed = feed or decision_feed()
        self.stats = stats or LiveStats()
        self.folds = FoldLog()
        self.metrics.set_model(scorer.version)
        self.rules = PolicyInForce(store.policies, scorer.model.features.names)
        self.models: ModelInForce | None = None  # set when this process follows the champion
        self.challengers: ChallengerInForce | None = None  # set when a registry is at hand
        self.drift = DriftMonitor.for_model(scorer.model.info, scorer.model.features.names)
        # Re-entrant: a stream worker waits for its previous batch (which takes the lock)
        # while the batch it is deciding holds it.
        self._lock = threading.RLock()

    @property
    def model(self) -> Any:
        return self.scorer.model

    @property
    def version(self) -> str:
        """The model version every decision carries."""
        return self.scorer.version

    def warm(self, transactions: pd.DataFrame, labels: pd.DataFrame | None = None) -> None:
        """Fold a history (and its labels, at their reported_at) into the feature state, before serving."""
        with self._lock:
            self.folds.last = None
            self.scorer.engine.history(transactions, labels)

    @contextmanager
    def begin(
        self,
        transactions: Sequence[Transaction],
        created_at: Sequence[float | None] | None = None,
        path: str = "api",
        ahead: ScoredAhead | None = None,
    ) -> Iterator[Batch]:
        """A batch scored, held by the service until the block ends (see `batch.py`).

        `ahead`: this batch as `score_ahead` scored it; that scoring stands if the state is
        what it counted on (the batch before folded last: not a label, another worker's
        batch, or an earlier try), else the batch is scored again.
        """
        with self._lock:
            self.follow_champion()  # a new champion, challenger, ruleset or list takes effect at a batch boundary
            challenger = None if self.challengers is None else self.challengers.refresh(self.scorer.model)
            self.refresh_rules(force=False)
            unique = distinct(transactions)
            prepared = None
            if ahead is not None:
                stands = (
                    ahead.after is self.folds.last
                    and ahead.version == self.version
                    and [tx.transaction_id for tx in ahead.prepared.scored.transactions]
                    == [tx.transaction_id for tx in unique]
                )
                self.metrics.scored_ahead.labels(result="used" if stands else "stale").inc()
                prepared = ahead.prepared if stands else None
            prepared = prepared or self.scorer.prepare(unique)
            rules = self.rules
            yield Batch(self, transactions, unique, prepared, created_at, path, rules.policy, rules.lists, challenger)

    def follow_champion(self, force: bool = False) -> None:
        """Serve the champion if it changed (when this process follows one: `models`)."""
        model = None if self.models is None else self.models.refresh(force)
        if model is None:
            return
        with self._lock:
            # The same feature state: it holds raw aggregates, whatever features a model reads.
            self.scorer = Scorer(model, self.scorer.engine.state, self.scorer.n_reasons)
            self.drift = DriftMonitor.for_model(model.info, model.features.names)
            self.rules.use_features(model.features.names)
            self.metrics.set_model(model.version)

    def refresh_rules(self, force: bool = True) -> None:
        """Put the ruleset and lists stored now in force (unless `force` is off and it looked lately)."""
        self.rules.refresh(force)
        self.metrics.ruleset_version.set(self.rules.policy.version or 0)

    def score_ahead(self, transactions: Sequence[Transaction], after: Batch) -> ScoredAhead:
        """Score the batch after `after`, which is being stored, as if its fold were applied:
        the next batch's reads and scoring overlap the database's insert of this one."""
        with self._lock:
            if after.step is not Step.STORING:
                raise OutOfOrderError(f"a batch is scored ahead of one being stored, not one {after.step.value}")
            return ScoredAhead(self.scorer.prepare(distinct(transactions), ahead=after.prepared), after, self.version)

    def decide(
        self,
        transactions: Sequence[Transaction],
        created_at: Sequence[float | None] | None = None,
        path: str = "api",
    ) -> DecideResult:
        """Decisions for a batch, each stored, and the batch folded, before it is returned or published.

        A transaction id decided before gets its stored decision back (a retry or a
        replay after a crash); a repeated id within the batch is decided once. An id
        sent again with another payload is not decided again either: its position is
        in `result.conflicts`, for the caller to refuse (409, or a dead letter).
        """
        if not transactions:
            return DecideResult([])
        with self.begin(transactions, created_at, path) as batch:
            batch.fold(batch.store()).wait()
        return batch.publish()

    def wait_for_state(self, state: Pending[None]) -> None:
        """Wait for a batch's feature-state fold (the state's connection is the lock holder's)."""
        with self._lock:
            state.wait()

    @contextmanager
    def if_free(self) -> Iterator[bool]:
        """Whether no batch is being decided now; if so, it holds the service until the block ends."""
        free = self._lock.acquire(blocking=False)
        try:
            yield free
        finally:
            if free:
                self._lock.release()

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

    def block(
        self, transaction_id: str, kinds: Sequence[str], days: float | None = None, key_id: str | None = None
    ) -> list[str]:
        """Put a payment's customer and/or device on the block lists (`blocked_customers`,
        `blocked_devices`, created as block tiers when missing); the lists it went on."""
        transaction = self.store.transactions_for([transaction_id]).get(transaction_id)
        if transaction is None:
            raise UnknownTransactionsError([transaction_id])
        expires = None if days is None else datetime.now(UTC) + timedelta(days=days)
        policies, listed = self.store.policies, []
        for kind in kinds:
            value = transaction.customer_id if kind == "customer" else transaction.device_id
            if value is None:
                continue
            name = f"blocked_{kind}s"
            policies.create_list(name, kind, "block", "confirmed fraud")
            policies.add_entries(name, [value], expires, f"fraud confirmed on {transaction_id}"[:500], key_id)
            listed.append(name)
        self.refresh_rules()
        return listed

    def close_case(
        self,
        case_id: int,
        verdict: str,
        analyst: str | None = None,
        note: str | None = None,
        block: Sequence[str] = (),
        key_id: str | None = None,
    ) -> list[str]:
        """A verdict on a case: closed, and each of its payments reviewed with it (so labelled,
        and the labels folded into the features); with a fraud verdict, `block` puts the
        customer and the devices on the block lists. The case's transaction ids."""
        cases = self.store.cases
        case = cases.get(case_id)
        closed_at = datetime.now(UTC)
        cases.close(case_id, verdict, closed_at)
        ids = cases.transaction_ids(replace(case, closed_at=closed_at))
        for transaction_id in ids:
            self.review(transaction_id, verdict, analyst, note, key_id)
        if verdict == "fraud" and block:
            for transaction_id in ids:
                self.block(transaction_id, block, key_id=key_id)
        return ids

    def _learn(self, labels: Sequence[Label]) -> None:
        if not labels:
            return
        transactions = self.store.transactions_for([label.transaction_id for label in labels])
        with self._lock:
            self.folds.last = None
            self.scorer.learn([(label, transactions[label.transaction_id]) for label in labels])
        for label in labels:
            source = label.source or "api"
            self.metrics.labels.labels(
                is_fraud=str(label.is_fraud).lower(), source=source if source in LABEL_SOURCES else "other"
            ).inc()

    def peek(self, transactions: Sequence[Transaction]) -> Any:
        with self._lock:
            return self.scorer.peek(transactions)
