"""A challenger scoring in shadow: every batch the champion decides, the challenger scores too,
from the same raw aggregates (so it reads the same point-in-time state), and its score and the
outcome its thresholds would give are stored beside the champion's decision, never published.

The raw aggregates' matured windows end one label delay before each payment, the champion's;
a challenger trained with another label delay would read them wrongly, so it is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fraudstream.decide.scorer import Prepared
from fraudstream.model.artifact import Model

__all__ = ["Challenger", "ChallengerMismatchError"]


class ChallengerMismatchError(ValueError):
    pass


class Challenger:
    def __init__(self, model: Model, champion: Model) -> None:
        if model.features.label_delay_days != champion.features.label_delay_days:
            raise ChallengerMismatchError(
                f"challenger {model.version} was trained with a label delay of {model.features.label_delay_days:g} "
                f"days, the champion with {champion.features.label_delay_days:g}: it cannot read the same state"
            )
        if model.features.extras != champion.features.extras:
            raise ChallengerMismatchError(f"challenger {model.version} reads other extra fields than the champion")
        self.model = model
        model.serve_single_threaded()

    @property
    def version(self) -> str:
        return self.model.version

    def rows(self, prepared: Prepared, transaction_ids: list[str], decided_at: datetime) -> list[dict[str, Any]]:
        """The challenger's score and outcome of each (freshly decided) transaction of a batch."""
        scored = prepared.scored
        X = self.model.features.compute(prepared.raw, prepared.events)
        scores = self.model.predict(X)
        outcomes = self.model.outcomes(scores)
        wanted = set(transaction_ids)
        return [
            {"transaction_id": tx.transaction_id, "version": self.version, "score": score, "outcome": str(outcome),
             "decided_at": decided_at}
            for tx, score, outcome in zip(scored.transactions, scores.tolist(), outcomes.tolist(), strict=True)
            if tx.transaction_id in wanted
        ]  # fmt: skip
