"""Champion against challenger on the payments both scored: how often they agree, how their
scores move together, what each would have decided, and, once the labels have matured, which
one ranks fraud better and catches more of its money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score
from sqlalchemy import select

from fraudstream.store import Store
from fraudstream.store.models import DecisionRow, LabelRow, ShadowScoreRow, TransactionRow

__all__ = ["compare"]

#: At most this many payments are compared: the latest ones in the window.
MOST = 1_000_000


def compare(store: Store, version: str, since: datetime, label_delay_days: float) -> dict[str, Any]:
    """The comparison of `version`'s shadow scores with the decisions made beside them since `since`."""
    query = (
        select(
            ShadowScoreRow.transaction_id,
            ShadowScoreRow.score,
            ShadowScoreRow.outcome,
            DecisionRow.score,
            DecisionRow.outcome,
            DecisionRow.model_version,
            DecisionRow.decided_at,
            TransactionRow.amount,
        )
        .join(DecisionRow, DecisionRow.transaction_id == ShadowScoreRow.transaction_id)
        .join(TransactionRow, TransactionRow.transaction_id == ShadowScoreRow.transaction_id)
        .where(ShadowScoreRow.version == version, ShadowScoreRow.decided_at >= since)
        .order_by(ShadowScoreRow.decided_at.desc())
        .limit(MOST)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
        ids = [r[0] for r in rows]
        frauds = {
            t
            for (t,) in connection.execute(
                select(LabelRow.transaction_id).where(LabelRow.is_fraud.is_(True)).distinct()
            )
        } if ids else set()  # fmt: skip
    if not rows:
        return {"challenger": version, "payments": 0}
    challenger_scores = np.array([r[1] for r in rows], dtype=float)
    champion_scores = np.array([r[3] for r in rows], dtype=float)
    challenger_outcomes = np.array([r[2] for r in rows], dtype=object)
    champion_outcomes = np.array([r[4] for r in rows], dtype=object)
    amounts = np.array([r[7] for r in rows], dtype=float)
    fraud = np.array([r[0] in frauds for r in rows], dtype=bool)
    decided = np.array([r[6].replace(tzinfo=UTC) if r[6].tzinfo is None else r[6] for r in rows])
    matured = decided < datetime.now(UTC) - timedelta(days=label_delay_days)
    result: dict[str, Any] = {
        "challenger": version,
        "champions": sorted({r[5] for r in rows}),
        "payments": len(rows),
        "agreement": round(float((challenger_outcomes == champion_outcomes).mean()), 4),
        "score_correlation": _correlation(champion_scores, challenger_scores),
        "outcomes": {
            "champion": _counts(champion_outcomes),
            "challenger": _counts(challenger_outcomes),
        },
        "matured": {"payments": int(matured.sum()), "frauds": int((fraud & matured).sum())},
    }
    if (fraud & matured).any() and (~fraud & matured).any():
        y, money = fraud[matured], amounts[matured]
        for name, scores, outcomes in (
            ("champion", champion_scores, champion_outcomes),
            ("challenger", challenger_scores, challenger_outcomes),
        ):
            caught = (outcomes[matured] != "approve") & y
            result["matured"][name] = {
                "average_precision": round(float(average_precision_score(y, scores[matured])), 4),
                "fraud_caught": int(caught.sum()),
                "fraud_money_caught": round(float(money[caught].sum()), 2),
            }
    return result


def _counts(outcomes: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(outcomes.astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 4)
