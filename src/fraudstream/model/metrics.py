"""Model quality the way fraud teams read it."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudstream.model.thresholds import Thresholds

__all__ = [
    "classification_metrics",
    "fraud_reported_before",
    "precision_at_k_per_day",
    "precision_at_k_transactions_per_day",
    "recall_by_scenario",
]

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
    known_since: pd.Series | None = None,
) -> float:
    """Mean over days of the precision of the day's k highest-scored customers, as an
    analyst team alerts on them.

    A customer's daily score is their highest score that day, and they count as a fraud
    case if any of their payments that day was fraud. Customers already known to be
    compromised that day (`known_since`, per row: when the first fraud label of the
    customer was reported; NaT if never) are left out: their card is blocked, nobody
    alerts on it again. Without customer ids the ranking is over transactions. Days with
    fewer than k candidates use them all.
    """
    if customers is None:
        return precision_at_k_transactions_per_day(y, scores, timestamps, k)
    day = pd.to_datetime(timestamps, utc=True).dt.floor("D")
    frame = pd.DataFrame(
        {
            "day": day.to_numpy(),
            "who": customers.to_numpy(),
            "score": scores,
            "fraud": np.asarray(y, dtype=bool),
        }
    )
    if known_since is not None:
        known = pd.to_datetime(known_since, utc=True).to_numpy()
        frame = frame[~(known < day.to_numpy())]  # NaT compares False: kept
    frame["who"] = frame["who"].fillna("?")
    daily = frame.groupby(["day", "who"], sort=False).agg(score=("score", "max"), fraud=("fraud", "max"))
    top = daily.sort_values("score", ascending=False).groupby(level="day").head(k)
    per_day = top.groupby(level="day")["fraud"].mean()
    return float(per_day.mean()) if len(per_day) else float("nan")


def precision_at_k_transactions_per_day(
    y: npt.NDArray[np.bool_], scores: FloatArray, timestamps: pd.Series, k: int = 100
) -> float:
    """Mean over days of the precision of the day's k highest-scored transactions."""
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(timestamps, utc=True).dt.floor("D").to_numpy(),
            "score": scores,
            "fraud": np.asarray(y, dtype=bool),
        }
    )
    top = frame.sort_values("score", ascending=False).groupby("day", sort=False).head(k)
    per_day = top.groupby("day")["fraud"].mean()
    return float(per_day.mean()) if len(per_day) else float("nan")


def fraud_reported_before(
    rows: pd.DataFrame, reports: pd.DataFrame, entity: str, horizon: pd.Timedelta
) -> npt.NDArray[np.bool_]:
    """For each row (`entity`, `timestamp`): was a fraud on the same entity reported
    before it, on a payment made at most `horizon` before it?

    `reports`: fraud labels with their payment's `entity`, `timestamp` and `reported_at`.
    """
    out = np.zeros(len(rows), dtype=bool)
    mine = rows[[entity, "timestamp"]].reset_index(drop=True).dropna(subset=[entity])
    if mine.empty or reports.empty:
        return out
    pairs = mine.reset_index().merge(
        reports[[entity, "timestamp", "reported_at"]].rename(columns={"timestamp": "paid_at"}), on=entity
    )
    hit = (pairs["reported_at"] < pairs["timestamp"]) & (pairs["paid_at"] >= pairs["timestamp"] - horizon)
    out[pairs.loc[hit, "index"].unique()] = True
    return out


def recall_by_scenario(
    y: npt.NDArray[np.bool_],
    scores: FloatArray,
    scenario: pd.Series,
    thresholds: Thresholds,
    after_report: dict[str, dict[str, npt.NDArray[np.bool_]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """For each fraud scenario: how many test frauds, and the share reviewed or declined.

    `after_report`: per entity kind and scenario, which rows came after a fraud of that
    scenario on their entity was reported (see `fraud_reported_before`); the scenario
    then also says what share of its frauds did, and the recall on those (what a
    label-aware system can catch).
    """
    out: dict[str, dict[str, Any]] = {}
    fraud = np.asarray(y, dtype=bool)
    names = scenario.fillna("unknown").to_numpy()
    for name in sorted(set(names[fraud])):
        mask = fraud & (names == name)
        row: dict[str, Any] = {
            "frauds": int(mask.sum()),
            "recall": float((scores[mask] >= thresholds.review).mean()),
            "decline_recall": float((scores[mask] >= thresholds.decline).mean()),
        }
        for entity, by_scenario in (after_report or {}).items():
            if name not in by_scenario:
                continue
            later = mask & by_scenario[name]
            row[f"after_{entity}_report"] = {
                "frauds": int(later.sum()),
                "share": float(later.sum() / mask.sum()),
                "recall": float((scores[later] >= thresholds.review).mean()) if later.any() else float("nan"),
            }
        out[str(name)] = row
    return out
