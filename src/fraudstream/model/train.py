"""Training: XGBoost (hist) on point-in-time features, early stopping on a later time slice.

Early stopping watches average precision, what fraud teams measure: ROC AUC peaks after
a few trees on imbalanced data and stops a model underfit. The classes keep their
natural weights by default (`scale_pos_weight` 1): up-weighting fraud distorts the
probabilities the thresholds are chosen on, and costs average precision on later data.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

from fraudstream.features.definitions import FeatureSet
from fraudstream.features.norms import Norms
from fraudstream.model.artifact import Model
from fraudstream.model.metrics import classification_metrics
from fraudstream.model.thresholds import ThresholdMethod, choose_thresholds
from fraudstream.monitoring.drift import reference

__all__ = ["MIN_TRUSTED_FRAUDS", "TrainConfig", "data_fingerprint", "fit", "too_few_frauds"]

log = logging.getLogger(__name__)

#: Fewer frauds than this in a window make its precision and recall noise.
MIN_TRUSTED_FRAUDS = 30

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TrainConfig:
    rounds: int = 500
    early_stopping: int = 40
    learning_rate: float = 0.08
    max_depth: int = 6
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    #: The latest share of the training rows (by time) for early stopping and thresholds.
    validation_fraction: float = 0.2
    threshold_method: ThresholdMethod = "fbeta"
    beta: float = 2.0
    review_cost: float = 5.0
    decline_cost: float = 0.2
    resample: Literal["none", "smote"] = "none"
    #: Weight of a fraud relative to a legitimate payment (1: as they come).
    scale_pos_weight: float = 1.0
    tune: int = 0  # Optuna trials (learning, trees and the fraud weight); 0 = the parameters above
    seed: int = 0
    threads: int = 0  # 0 = all cores

    def params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": ["auc", "aucpr"],
            "tree_method": "hist",
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "scale_pos_weight": self.scale_pos_weight,
            "seed": self.seed,
            "nthread": self.threads or os.cpu_count() or 1,
            "verbosity": 0,
        }


def data_fingerprint(transactions: pd.DataFrame) -> str:
    """A hash of the training rows' content, to tell which data a model saw."""
    hashed = pd.util.hash_pandas_object(transactions, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _time_validation_split(timestamps: npt.NDArray[np.int64], fraction: float) -> tuple[BoolArray, int]:
    cut = int(np.quantile(timestamps, 1.0 - fraction))
    return timestamps >= cut, cut


def too_few_frauds(frauds: int, window: str) -> str | None:
    """A warning when a window holds too few frauds to trust what is measured on it."""
    if frauds >= MIN_TRUSTED_FRAUDS:
        return None
    return (
        f"the {window} window holds only {frauds} frauds (fewer than {MIN_TRUSTED_FRAUDS}): "
        "its precision, recall and thresholds are noise; use a longer history or window"
    )


def _smote(X: FloatArray, y: BoolArray, seed: int) -> tuple[FloatArray, BoolArray, FloatArray]:
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise RuntimeError("--resample smote needs imbalanced-learn: pip install 'fraudstream[tune]'") from None
    medians = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
    filled = np.where(np.isnan(X), medians, X)
    sampler = SMOTE(sampling_strategy=0.2, random_state=seed, k_neighbors=min(5, int(y.sum()) - 1))
    X_res, y_res = sampler.fit_resample(filled, y)
    return np.asarray(X_res, dtype=np.float64), np.asarray(y_res, dtype=bool), medians


def _train(
    params: dict[str, Any], dtrain: xgb.DMatrix, dvalid: xgb.DMatrix, config: TrainConfig
) -> tuple[xgb.Booster, float]:
    """The booster cut at its best validation AP, and that AP."""
    history: dict[str, Any] = {}
    # Named explicitly: XGBoost's own early stopping watches the *last* metric listed.
    stop = xgb.callback.EarlyStopping(
        rounds=config.early_stopping, metric_name="aucpr", data_name="validation", maximize=True
    )
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=config.rounds,
        evals=[(dvalid, "validation")],
        callbacks=[stop],
        evals_result=history,
        verbose_eval=False,
    )
    best = booster.best_iteration
    return booster[: best + 1], float(history["validation"]["aucpr"][best])


def _tune(
    base: dict[str, Any], dtrain: xgb.DMatrix, dvalid: xgb.DMatrix, config: TrainConfig, imbalance: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters with the best validation AP in `config.tune` Optuna trials, and what
    the study found (trials, each one's AP, the best).

    `imbalance`: legitimate payments per fraud in training, the largest fraud weight tried.
    """
    try:
        import optuna
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise RuntimeError("--tune needs optuna: pip install 'fraudstream[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 3, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 20, log=True),
            "scale_pos_weight": trial.suggest_float("scale_pos_weight", 1.0, max(imbalance, 1.0 + 1e-9), log=True),
        }
        return _train(params, dtrain, dvalid, config)[1]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=config.tune)
    log.info("tuning done", extra={"trials": config.tune, "best_validation_aucpr": round(study.best_value, 4)})
    summary = {
        "trials": len(study.trials),
        "validation_aucpr": [t.value for t in study.trials],
        "best_validation_aucpr": study.best_value,
        "best_params": study.best_params,
    }
    return {**base, **study.best_params}, summary


def fit(
    X: FloatArray,
    y: BoolArray,
    timestamps_ms: npt.NDArray[np.int64],
    amounts: FloatArray,
    features: FeatureSet,
    config: TrainConfig | None = None,
    provenance: dict[str, Any] | None = None,
) -> Model:
    """Train on the earlier rows, stop early and choose thresholds on the latest ones."""
    config = config or TrainConfig()
    y = np.asarray(y, dtype=bool)
    valid, cut = _time_validation_split(timestamps_ms, config.validation_fraction)
    train = ~valid
    for part, mask in (("training", train), ("validation", valid)):
        if not y[mask].any():
            raise ValueError(f"the {part} slice has no fraud: use more data or another --validation-fraction")
    X_train, y_train = X[train], y[train]
    impute = None
    extra: dict[str, Any] = {}
    if config.resample == "smote":
        before = {"rows": len(y_train), "frauds": int(y_train.sum())}
        X_train, y_train, medians = _smote(X_train, y_train, config.seed)
        impute = {name: float(m) for name, m in zip(features.names, medians, strict=True)}
        extra["resampled"] = {"before": before, "after": {"rows": len(y_train), "frauds": int(y_train.sum())}}
    names = list(features.names)
    dtrain = xgb.DMatrix(X_train, label=y_train, feature_names=names, missing=np.nan)
    x_valid = X[valid]
    if impute:
        x_valid = np.where(np.isnan(x_valid), np.array(list(impute.values())), x_valid)
    dvalid = xgb.DMatrix(x_valid, label=y[valid], feature_names=names, missing=np.nan)
    params = config.params()
    if config.tune:
        positives = max(int(y_train.sum()), 1)
        params, extra["tuning"] = _tune(params, dtrain, dvalid, config, (len(y_train) - positives) / positives)
    booster, _ = _train(params, dtrain, dvalid, config)
    scores = np.asarray(booster.inplace_predict(x_valid, validate_features=False), dtype=np.float64)
    thresholds = choose_thresholds(
        y[valid],
        scores,
        amounts[valid],
        method=config.threshold_method,
        beta=config.beta,
        review_cost=config.review_cost,
        decline_cost=config.decline_cost,
    )

    warnings = [w for w in (too_few_frauds(int(y[valid].sum()), "validation"),) if w]
    if thresholds.detail.get("decline_fallback"):
        warnings.append(
            f"the {thresholds.method} thresholds collapsed: decline falls back to the median validation score "
            f"above review ({thresholds.review:.3f} -> {thresholds.decline:.3f})"
        )

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat()

    info = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            **(provenance or {}),
            "rows": len(y),
            "frauds": int(y.sum()),
            "start": when(int(timestamps_ms.min())),
            "end": when(int(timestamps_ms.max())),
            "validation_start": when(cut),
            "validation_rows": int(valid.sum()),
            "validation_frauds": int(y[valid].sum()),
            "label_delay_days": features.label_delay_days,
        },
        "params": {k: v for k, v in params.items() if k != "nthread"},
        "trees": booster.num_boosted_rounds(),
        "best_iteration": booster.num_boosted_rounds() - 1,
        "warnings": warnings,
        "config": asdict(config),
        **extra,
        "metrics": {"validation": classification_metrics(y[valid], scores, thresholds)},
        # What serving is compared with for drift: the latest slice of training, as served.
        "drift_reference": reference(X[valid], names, scores),
    }
    norms = Norms.of(features.names, X, y, features.categories)
    return Model(booster=booster, features=features.with_norms(norms), thresholds=thresholds, info=info, impute=impute)
