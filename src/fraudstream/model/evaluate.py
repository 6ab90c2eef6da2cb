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
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.model.metrics import classification_metrics, precision_at_k_per_day, recall_by_scenario
from fraudstream.model.split import SplitConfig, split_masks
from fraudstream.model.train import TrainConfig, data_fingerprint, fit

__all__ = ["Evaluation", "evaluate", "history_features", "train_on"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def history_features(dataset: Dataset) -> tuple[FeatureSet, FloatArray]:
    """Point-in-time features of every transaction of a data set (labels used once reported)."""
    features = FeatureSet.for_inputs(dataset.inputs, dataset.extras, dataset.categories)
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
    features, X = history_features(dataset)
    return fit(
        X,
        dataset.is_fraud,
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


def evaluate(dataset: Dataset, split: SplitConfig, config: TrainConfig, k: int = 100) -> Evaluation:
    features, X = history_features(dataset)
    y = dataset.is_fraud
    train, test, windows = split_masks(dataset.transactions["timestamp"], split)
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
    customers = test_rows["customer_id"] if "customer" in dataset.inputs else None
    metrics: dict[str, Any] = {
        **classification_metrics(y[test], scores, model.thresholds),
        "precision_at_k_per_day": precision_at_k_per_day(y[test], scores, test_rows["timestamp"], customers, k),
        "k": k,
        "ranked_by": "customer" if customers is not None else "transaction",
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "fraud_rate_train": float(y[train].mean()),
        "fraud_rate_test": float(y[test].mean()),
        "split": windows,
        "features": len(features.names),
        "threshold_method": model.thresholds.method,
    }
    if dataset.labels is not None and "scenario" in dataset.labels:
        by_id = dataset.labels.drop_duplicates("transaction_id").set_index("transaction_id")["scenario"]
        scenario = test_rows["transaction_id"].map(by_id)
        metrics["recall_by_scenario"] = recall_by_scenario(y[test], scores, scenario, model.thresholds)
    return Evaluation(metrics=metrics, model=model, y_test=y[test], scores=scores, X_test=X[test], test=test_rows)
