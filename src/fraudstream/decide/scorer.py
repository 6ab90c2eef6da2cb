"""Scoring a batch: transactions -> features -> model -> decisions (a transaction alone
is a batch of one).

`Scorer.prepare` scores a batch without touching the feature state; its fold is applied
later (`stage`, then `apply`), once the decisions are stored: the decision service
(`service.py`, `batch.py`) drives those steps for the API and the stream workers.
`Scorer.score` does them all at once, for batch scoring and benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudstream.features import Events, FeatureEngine
from fraudstream.features.state.base import FeatureState, Fold, Workspace
from fraudstream.model.artifact import Model
from fraudstream.model.explain import top_reasons
from fraudstream.pending import Pending
from fraudstream.rules.fields import batch_columns
from fraudstream.rules.policy import Lists, Policy, Verdicts
from fraudstream.schema import Decision, Label, Outcome, Reason, Timings, Transaction

__all__ = ["Prepared", "ScoredBatch", "Scorer", "judge"]

FloatArray = npt.NDArray[np.float64]
_EVERY_DECISION_FIELD = frozenset(Decision.model_fields)
_set = object.__setattr__  # Decision is frozen


@dataclass
class ScoredBatch:
    """What scoring a batch produced, as columns (decisions are built from it)."""

    transactions: Sequence[Transaction]
    features: FloatArray
    scores: FloatArray
    outcomes: npt.NDArray[np.object_]
    reasons: list[list[Reason]]
    timings: Timings
    decided_at: datetime

    def decisions(
        self, model_version: str, verdicts: Verdicts | None = None, ruleset: int | None = None
    ) -> list[Decision]:
        """The batch's decisions: the model's outcomes, or the policy's `verdicts` where it has rules."""
        # In the fields' order: a decision built without pydantic serialises its __dict__ in it.
        shared = {"model_version": model_version, "decided_at": self.decided_at, "timings": self.timings}
        outcomes = self.outcomes if verdicts is None else verdicts.outcomes
        # A list of its own per decision, not one shared by every decision.
        hits = [[] for _ in self.transactions] if verdicts is None else verdicts.hits
        return [
            _decision(
                {
                    "transaction_id": tx.transaction_id,
                    "customer_id": tx.customer_id,
                    "score": score,
                    "outcome": outcome,
                    "reasons": reasons,
                    "rules": rules,
                    "ruleset_version": ruleset,
                    **shared,
                }
            )
            # Plain floats and the Outcome members themselves: per-element numpy access costs more.
            for tx, score, outcome, reasons, rules in zip(
                self.transactions, self.scores.tolist(), outcomes.tolist(), self.reasons, hits, strict=True
            )
        ]


def _decision(values: dict[str, Any]) -> Decision:
    """A decision from values that are ours, so valid: what `model_construct` does, without
    its pass over every field's aliases and defaults (cheaper than `model_copy` of a
    shared one, too). The attributes are pydantic's documented instance attributes; a
    test compares the result with a decision pydantic validated."""
    decision = Decision.__new__(Decision)
    _set(decision, "__dict__", values)
    _set(decision, "__pydantic_fields_set__", set(_EVERY_DECISION_FIELD))
    _set(decision, "__pydantic_extra__", None)  # extra="forbid"
    _set(decision, "__pydantic_private__", None)  # no private attributes
    return decision


def judge(
    model: Model, X: FloatArray, present: Mapping[str, npt.NDArray[np.bool_]], n_reasons: int
) -> tuple[FloatArray, npt.NDArray[np.object_], list[list[Reason]]]:
    """Scores, outcomes and reasons of feature rows (`present`: which inputs each payment has).

    Flagged rows (review, decline) get exact TreeSHAP contributions; approvals the fast
    approximate ones (Saabas, as XGBoost computes them), which cost far less and rank
    features alike.
    """
    scores, contributions = model.scores_and_fast_contributions(X)
    outcomes = model.outcomes(scores)
    flagged = outcomes != Outcome.APPROVE
    if flagged.any():
        contributions[flagged] = model.contributions(X[flagged], exact=True)
    return scores, outcomes, top_reasons(model.features, X, contributions, flagged, present, n_reasons)


@dataclass
class Prepared:
    """A scored batch whose feature-state fold is not applied yet."""

    scored: ScoredBatch
    workspace: Workspace
    #: What the features were computed from: a challenger computes its own from the same.
    raw: FloatArray
    events: Events


class Scorer:
    """Scores batches with one model over one feature state; every decision gets its
    top `n_reasons` reasons (see `judge`)."""

    def __init__(self, model: Model, state: FeatureState | None = None, n_reasons: int = 3) -> None:
        self.model = model
        model.serve_single_threaded()
        self.engine = FeatureEngine(model.features, state)
        self.engine.warm_up()
        self.n_reasons = n_reasons

    @property
    def version(self) -> str:
        return self.model.version

    def prepare(self, transactions: Sequence[Transaction], ahead: Prepared | None = None) -> Prepared:
        """Score a batch without committing its folds to feature state yet.

        The caller stores the decisions, then applies the fold (`stage`, then `apply`):
        if storing fails, the state is untouched and the batch can simply be scored again. `ahead`: the batch before,
        staged but not committed yet (its decisions are being stored); this batch is
        scored as if it were.
        """
        started = time.perf_counter()
        events = Events.from_transactions(transactions, self.model.features.extras)
        raw, workspace = self.engine.prepare(events, None if ahead is None else ahead.workspace)
        X = self.engine.compute(raw, events)
        featured = time.perf_counter()
        scores, outcomes, reasons = judge(self.model, X, events.present(), self.n_reasons)
        done = time.perf_counter()
        timings = Timings(
            features_ms=round((featured - started) * 1000, 3),
            model_ms=round((done - featured) * 1000, 3),
            total_ms=round((done - started) * 1000, 3),
        )
        scored = ScoredBatch(transactions, X, scores, outcomes, reasons, timings, datetime.now(UTC))
        return Prepared(scored, workspace, raw, events)

    def commit(self, prepared: Prepared) -> Pending[None]:
        return self.engine.commit(prepared.workspace)

    def stage(self, prepared: Prepared) -> Fold:
        """The batch's feature-state fold worked out; `apply` applies it (see `commit`)."""
        return self.engine.stage(prepared.workspace)

    def verdicts(self, scored: ScoredBatch, policy: Policy, lists: Lists) -> Verdicts | None:
        """The policy's outcomes for a scored batch (None: no rules, the model's outcomes stand)."""
        if not policy.rules:
            return None
        names = self.model.features.names
        columns = batch_columns(scored.transactions, scored.features, names, scored.scores, policy.columns)
        thresholds = (self.model.thresholds.review, self.model.thresholds.decline)
        return policy.verdicts(columns, scored.scores, thresholds, lists)

    def score(
        self, transactions: Sequence[Transaction], policy: Policy | None = None, lists: Lists | None = None
    ) -> list[Decision]:
        """Decisions for a batch, in order (through `policy` if given); the batch is folded into feature state."""
        if not transactions:
            return []
        prepared = self.prepare(transactions)
        self.commit(prepared).wait()
        if policy is None:
            return prepared.scored.decisions(self.version)
        verdicts = self.verdicts(prepared.scored, policy, lists or {})
        return prepared.scored.decisions(self.version, verdicts, policy.version)

    def learn(self, labelled: Sequence[tuple[Label, Transaction]]) -> None:
        """Fold confirmed labels into feature state (merchant/terminal/customer fraud counts)."""
        if labelled:
            self.engine.process(Events.from_labels(labelled))

    def peek(self, transactions: Sequence[Transaction]) -> FloatArray:
        """Features of hypothetical transactions, changing nothing."""
        events = Events.from_transactions(transactions, self.model.features.extras)
        raw, _ = self.engine.prepare(events)  # never committed
        return self.engine.compute(raw, events)
