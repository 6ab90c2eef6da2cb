"""Retraining from the store: a challenger trained on what the service stored, judged against the
champion on the latest window whose labels have matured, promoted only if it is better.

Label maturity: a payment younger than the label delay may be a fraud nobody reported yet, so it
is used neither to train nor to judge. The judging window is the last `test_days` of matured
payments; the challenger trains on the payments before it, less a gap of one label delay (its
labels would not have been known when the window began). Both models score the window with
point-in-time features computed over the whole stored history.

Promotion: average precision better by `ap_margin`, and recall at the review budget (the number
of payments the champion sends to review or declines in the window) not worse by more than
`recall_margin`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score

from fraudstream.features import FeatureEngine
from fraudstream.io.stored import stored_dataset
from fraudstream.lifecycle.registry import Registry
from fraudstream.model.artifact import Model
from fraudstream.model.evaluate import history_features
from fraudstream.model.train import TrainConfig, data_fingerprint, fit
from fraudstream.store import Store

__all__ = ["Judged", "RetrainConfig", "RetrainResult", "retrain"]

MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class RetrainConfig:
    since_days: float = 60.0
    test_days: float = 14.0
    ap_margin: float = 0.0
    recall_margin: float = 0.0
    promote: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Judged:
    """One model on the judging window."""

    version: str
    average_precision: float
    recall_at_budget: float
    flagged: int  # payments it sends to review or declines there


@dataclass(frozen=True)
class RetrainResult:
    challenger: str
    champion: str | None
    promoted: bool
    why: str
    window: dict[str, Any]
    judged: list[Judged]
    would_promote: bool  # the verdict, whether or not promotion was asked for

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "judged": [asdict(j) for j in self.judged]}

    def _verdict(self) -> str:
        if self.promoted:
            return "Promoted"
        return "Better, not promoted (--no-promote)" if self.would_promote else "Kept the champion"

    def markdown(self) -> str:
        rows = "\n".join(
            f"| {j.version} | {j.average_precision:.4f} | {j.recall_at_budget:.4f} | {j.flagged:,} |"
            for j in self.judged
        )
        w = self.window
        return (
            f"# Challenger {self.challenger} against {self.champion or 'no champion'}\n\n"
            f"Judged on {w['payments']:,} matured payments ({w['frauds']:,} frauds) paid {w['start']} to {w['end']}; "
            f"trained on {w['train_rows']:,} paid before {w['train_end']} (a gap of {w['gap_days']:g} days).\n\n"
            f"| model | average precision | recall at the review budget ({w['budget']:,}) | flagged |\n"
            f"|---|---|---|---|\n{rows}\n\n**{self._verdict()}**: {self.why}\n"
        )


def _judge(model: Model, X: npt.NDArray[np.float64], y: npt.NDArray[np.bool_], budget: int) -> Judged:
    scores = model.predict(X)
    flagged = int((scores >= model.thresholds.review).sum())
    top = np.argsort(-scores, kind="stable")[:budget]
    recall = float(y[top].sum() / y.sum()) if y.any() else 0.0
    ap = float(average_precision_score(y, scores)) if y.any() else 0.0
    return Judged(model.version, ap, recall, flagged)


def retrain(store: Store, registry: Registry, config: RetrainConfig, now: datetime | None = None) -> RetrainResult:
    """Train a challenger on the stored history, register it, judge it against the champion, and
    promote it if it is better (see the module). Raises ValueError when the store holds too little."""
    now = now or datetime.now(UTC)
    dataset = stored_dataset(store, now - timedelta(days=config.since_days))
    if not len(dataset.transactions):
        raise ValueError(f"no payment stored in the last {config.since_days:g} days")
    delay = dataset.label_delay.days
    ts = np.asarray(dataset.transactions["timestamp"].astype("datetime64[ms, UTC]").astype("int64"), dtype=np.int64)
    matured_end = int((now - timedelta(days=delay)).timestamp() * 1000)
    test_start = matured_end - int(config.test_days * MS_PER_DAY)
    train_end = test_start - int(delay * MS_PER_DAY)
    y = dataset.is_fraud
    train, test = ts < train_end, (ts >= test_start) & (ts < matured_end)
    if not y[train].any() or not y[test].any():
        raise ValueError(
            f"no labelled fraud {'to train on' if not y[train].any() else 'to judge on'}: {int(y[train].sum())} "
            f"paid before {_iso(train_end)} (training), {int(y[test].sum())} paid {_iso(test_start)} to "
            f"{_iso(matured_end)} (judging; labels count once {delay:.1f} days old); store more history "
            "(--since-days), judge on more days (--test-days), or wait for labels"
        )
    features, X = history_features(dataset)
    amounts = dataset.transactions["amount"].to_numpy(dtype=float)
    provenance = {"source": "store", "data_fingerprint": data_fingerprint(dataset.transactions)}
    challenger = fit(X[train], y[train], ts[train], amounts[train], features, config.train, provenance)
    champion_version = store.champions.champion()
    champion = registry.load(champion_version) if champion_version else None
    if champion is not None:
        X_champion = FeatureEngine(champion.features).history(dataset.transactions, dataset.labels)[test]
        budget = int((champion.predict(X_champion) >= champion.thresholds.review).sum())
    else:
        budget = int((challenger.predict(X[test]) >= challenger.thresholds.review).sum())
    budget = max(budget, 1)
    with tempfile.TemporaryDirectory() as folder:
        version = registry.add(challenger.save(Path(folder) / "retrained"))
    judged = [_judge(registry.load(version), X[test], y[test], budget)]
    if champion is not None:
        judged.append(_judge(champion, X_champion, y[test], budget))
    promoted, why = _verdict(judged, config)
    window = {
        "start": _iso(test_start),
        "end": _iso(matured_end),
        "payments": int(test.sum()),
        "frauds": int(y[test].sum()),
        "train_rows": int(train.sum()),
        "train_end": _iso(train_end),
        "gap_days": round(delay, 2),
        "budget": budget,
    }
    result = RetrainResult(version, champion_version, promoted and config.promote, why, window, judged, promoted)
    report = registry.get(version).path
    (report / "comparison.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    (report / "comparison.md").write_text(result.markdown())
    if result.promoted:
        store.champions.promote(version, f"retrained: {why}")
    return result


def _verdict(judged: list[Judged], config: RetrainConfig) -> tuple[bool, str]:
    challenger = judged[0]
    if len(judged) == 1:
        return True, "no champion yet"
    champion = judged[1]
    ap_gain = challenger.average_precision - champion.average_precision
    recall_change = challenger.recall_at_budget - champion.recall_at_budget
    figures = f"AP {challenger.average_precision:.4f} vs {champion.average_precision:.4f}, recall at the budget "
    figures += f"{challenger.recall_at_budget:.4f} vs {champion.recall_at_budget:.4f}"
    if ap_gain < config.ap_margin:
        return False, f"AP not better by {config.ap_margin:g} ({figures})"
    if recall_change < -config.recall_margin:
        return False, f"recall at the review budget worse by more than {config.recall_margin:g} ({figures})"
    return True, figures


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
