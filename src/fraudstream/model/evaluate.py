"""Offline evaluation: features over the whole history, train on the past, test on the future."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.features import FeatureEngine, FeatureSet
from fraudstream.features.definitions import LABEL_FEATURES
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.model.metrics import (
    classification_metrics,
    fraud_reported_before,
    precision_at_k_per_day,
    precision_at_k_transactions_per_day,
    recall_by_scenario,
)
from fraudstream.model.split import SplitConfig, split_masks
from fraudstream.model.train import TrainConfig, data_fingerprint, fit, too_few_frauds

__all__ = ["Evaluation", "evaluate", "history_features", "train_on"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


#: A fraud on the same terminal counts as known to a later payment if it was made at
#: most this long before it.
REPORT_HORIZON = pd.Timedelta(days=30)


def history_features(dataset: Dataset) -> tuple[FeatureSet, FloatArray]:
    """Point-in-time features of every transaction of a data set (labels used once reported)."""
    features = FeatureSet.for_inputs(dataset.inputs, dataset.extras, dataset.categories, dataset.label_delay.days)
    started = time.perf_counter()
    X = FeatureEngine(features).history(dataset.transactions, dataset.labels)
    elapsed = time.perf_counter() - started
    log.info(
        "features computed",
        extra={"rows": len(X), "features": len(features.names), "per_s": round(len(X) / max(elapsed, 1e-9))},
    )
    return features, X


def _timestamps_ms(dataset: Dataset) -> npt.NDArray[np.int64]:
    ts = dataset.transactions["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    return np.asarray(ts.to_numpy(), dtype=np.int64)


def train_on(dataset: Dataset, config: TrainConfig) -> Model:
    """A model trained on the whole data set (its latest slice for early stopping and thresholds)."""
    y = dataset.is_fraud  # no labels: said before any feature is computed
    features, X = history_features(dataset)
    return fit(
        X,
        y,
        _timestamps_ms(dataset),
        dataset.transactions["amount"].to_numpy(dtype=float),
        features,
        config,
        provenance={"source": dataset.source, "data_fingerprint": data_fingerprint(dataset.transactions)},
    )


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    model: Model
    y_test: npt.NDArray[np.bool_]
    scores: FloatArray
    X_test: FloatArray
    test: pd.DataFrame = field(repr=False)


def _labels_never_known(dataset: Dataset, features: FeatureSet) -> str | None:
    """A warning when no label can become known within the history, so the features about known fraud see none."""
    ts = dataset.transactions["timestamp"]
    span_days = (ts.max() - ts.min()) / pd.Timedelta(days=1) if len(ts) else 0.0
    if features.label_delay_days < span_days or not set(features.names) & LABEL_FEATURES:
        return None
    return (
        f"labels are taken as known {features.label_delay_days:g} days after the payment, longer than the "
        f"{span_days:.1f}-day history: the features about known fraud see none (set --label-delay-days)"
    )


def _fraud_reports(dataset: Dataset) -> pd.DataFrame:
    """Fraud labels (with their scenario, if any) and their payment's time, customer and terminal."""
    assert dataset.labels is not None
    frauds = dataset.labels[dataset.labels["is_fraud"].astype(bool)]
    context = [c for c in ("customer_id", "terminal_id") if c in dataset.transactions]
    paid = dataset.transactions[["transaction_id", "timestamp", *context]].drop_duplicates("transaction_id")
    own = [c for c in ("transaction_id", "reported_at", "scenario") if c in frauds]
    return frauds[own].merge(paid, on="transaction_id")


def evaluate(dataset: Dataset, split: SplitConfig, config: TrainConfig, k: int = 100) -> Evaluation:
    y = dataset.is_fraud  # no labels: said before any feature is computed
    train, test, windows = split_masks(dataset.transactions["timestamp"], split)
    features, X = history_features(dataset)
    ts_ms = _timestamps_ms(dataset)
    amounts = dataset.transactions["amount"].to_numpy(dtype=float)
    model = fit(
        X[train],
        y[train],
        ts_ms[train],
        amounts[train],
        features,
        config,
        provenance={
            "source": dataset.source,
            "data_fingerprint": data_fingerprint(dataset.transactions[train]),
        },
    )
    scores = model.predict(X[test])
    test_rows = dataset.transactions[test].reset_index(drop=True)
    reports = _fraud_reports(dataset)
    customers = test_rows["customer_id"] if "customer" in dataset.inputs else None
    known_since = None
    if customers is not None:
        first_report = reports.groupby("customer_id")["reported_at"].min()
        known_since = customers.map(first_report)
    n_frauds_test = int(y[test].sum())
    warnings = [
        *model.info.get("warnings", []),
        *filter(None, [too_few_frauds(n_frauds_test, "test"), _labels_never_known(dataset, features)]),
    ]
    metrics: dict[str, Any] = {
        **classification_metrics(y[test], scores, model.thresholds),
        "precision_at_k_per_day": precision_at_k_per_day(
            y[test], scores, test_rows["timestamp"], customers, k, known_since
        ),
        "precision_at_k_transactions_per_day": precision_at_k_transactions_per_day(
            y[test], scores, test_rows["timestamp"], k
        ),
        "k": k,
        "ranked_by": "customer" if customers is not None else "transaction",
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "n_frauds_train": int(y[train].sum()),
        "n_frauds_test": n_frauds_test,
        "fraud_rate_train": float(y[train].mean()),
        "fraud_rate_test": float(y[test].mean()),
        "split": windows,
        "features": len(features.names),
        "label_delay_days": features.label_delay_days,
        "label_delay_source": dataset.label_delay.source,
        "best_iteration": model.info["best_iteration"],
        "trees": model.info["trees"],
        "params": model.info["params"],
        "threshold_method": model.thresholds.method,
        "warnings": warnings,
    }
    for warning in warnings[len(model.info.get("warnings", [])) :]:
        log.warning(warning)
    if dataset.labels is not None and "scenario" in dataset.labels:
        by_id = dataset.labels.drop_duplicates("transaction_id").set_index("transaction_id")["scenario"]
        scenario = test_rows["transaction_id"].map(by_id)
        after = {}
        if "terminal" in dataset.inputs:
            # A scenario's own reports: an unrelated fraud at a terminal says nothing of a later compromise.
            after["terminal"] = {
                str(name): fraud_reported_before(
                    test_rows, reports[reports["scenario"] == name], "terminal_id", REPORT_HORIZON
                )
                for name in scenario[y[test]].dropna().unique()
            }
        metrics["recall_by_scenario"] = recall_by_scenario(y[test], scores, scenario, model.thresholds, after)
    return Evaluation(metrics=metrics, model=model, y_test=y[test], scores=scores, X_test=X[test], test=test_rows)
