"""Scoring a whole history for analysts: one row per transaction, with its reasons.

The features are point in time, exactly as `evaluate` computes them (a label counts
from its `reported_at` on); the history is replayed through the feature engine in
chunks, so memory holds one chunk's features, not the whole history's.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from fraudstream.decide.scorer import judge
from fraudstream.features import FeatureEngine
from fraudstream.features.engine import history_events
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model

__all__ = ["scored_history"]


def scored_history(model: Model, dataset: Dataset, n_reasons: int = 3, chunk: int = 100_000) -> Iterator[pd.DataFrame]:
    """Frames of `transaction_id, timestamp, customer_id, amount, score, outcome, reason_1..n`,
    in time order, one per chunk of `chunk` events (transactions and labels)."""
    model.check_inputs(dataset.inputs, dataset.extras)
    events, _ = history_events(dataset.transactions, dataset.labels, model.features.extras)
    engine = FeatureEngine(model.features)
    for start in range(0, len(events), chunk):
        part = events.take(np.arange(start, min(start + chunk, len(events))))
        X = engine.process(part)
        paid = part.take(np.flatnonzero(~part.is_label))
        if not len(paid):
            continue
        scores, outcomes, reasons = judge(model, X, paid.present(), n_reasons)
        frame = pd.DataFrame(
            {
                "transaction_id": pd.array(paid.event_id, dtype="string"),
                "timestamp": pd.to_datetime(paid.ts_ms, unit="ms", utc=True),
                "customer_id": pd.array(paid.customer, dtype="string"),
                "amount": paid.amount,
                "score": scores,
                "outcome": [str(o) for o in outcomes.tolist()],
            }
        )
        for k in range(n_reasons):
            texts = [r[k].text if len(r) > k else None for r in reasons]
            frame[f"reason_{k + 1}"] = pd.array(texts, dtype="string")
        yield frame
