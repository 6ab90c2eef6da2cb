"""Model quality the way fraud teams read it."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudstream.model.thresholds import Thresholds

__all__ = ["classification_metrics", "precision_at_k_per_day", "recall_by_scenario"]

FloatArray = npt.NDArray[np.float64]


def classification_metrics(y: npt.NDArray[np.bool_], scores: FloatArray, thresholds: Thresholds) -> dict[str, Any]:
    """ROC AUC, average precision, and precision/recall/F1 at the review threshold (an alert)."""
    y = np.asarray(y, dtype=bool)
    both = 0 < y.sum() < len(y)
    alert = scores >= thresholds.review
    decline = scores >= thresholds.decline
    tp = int((alert & y).sum())
    precision = tp / int(alert.sum()) if alert.any() else 0.0
    recall = tp / int(y.sum()) if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "roc_auc": float(roc_auc_score(y, scores)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, scores)) if both else float("nan"),
        "threshold": thresholds.review,
        "decline_threshold": thresholds.decline,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "alerts": int(alert.sum()),
        "true_positives": tp,
        "false_positives": int((alert & ~y).sum()),
        "false_negatives": int((~alert & y).sum()),
        "decline_precision": float((decline & y).sum() / decline.sum()) if decline.any() else 0.0,
        "decline_recall": float((decline & y).sum() / y.sum()) if y.any() else 0.0,
    }


def precision_at_k_per_day(
    y: npt.NDArray[np.bool_],
    scores: FloatArray,
    timestamps: pd.Series,
    customers: pd.Series | None,
    k: int = 100,
) -> float:
    """Mean over days of the precision of the day's k highest-scored customers.

    A customer's daily score is their highest score that day, and they count as a
    fraud case if any of their payments that day was fraud. Without customer ids the
    ranking is over transactions. Days with fewer than k candidates use them all.
    """
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(timestamps, utc=True).dt.floor("D").to_numpy(),
            "who": customers.to_numpy() if customers is not None else np.arange(len(y)),
            "score": scores,
            "fraud": np.asarray(y, dtype=bool),
        }
    )
    frame["who"] = frame["who"].fillna("?")
    daily = frame.groupby(["day", "who"], sort=False).agg(score=("score", "max"), fraud=("fraud", "max"))
    top = daily.sort_values("score", ascending=False).groupby(level="day").head(k)
    per_day = top.groupby(level="day")["fraud"].mean()
    return float(per_day.mean()) if len(per_day) else float("nan")


def recall_by_scenario(
    y: npt.NDArray[np.bool_], scores: FloatArray, scenario: pd.Series, thresholds: Thresholds
) -> dict[str, dict[str, float]]:
    """For each fraud scenario: how many test frauds, and the share reviewed or declined."""
    out: dict[str, dict[str, float]] = {}
    fraud = np.asarray(y, dtype=bool)
    names = scenario.fillna("unknown").to_numpy()
    for name in sorted(set(names[fraud])):
        mask = fraud & (names == name)
        out[str(name)] = {
            "frauds": int(mask.sum()),
            "recall": float((scores[mask] >= thresholds.review).mean()),
            "decline_recall": float((scores[mask] >= thresholds.decline).mean()),
        }
    return out
