"""Training: XGBoost (hist) on point-in-time features, early stopping on a later time slice."""

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
from fraudstream.model.artifact import Model
from fraudstream.model.metrics import classification_metrics
from fraudstream.model.thresholds import ThresholdMethod, choose_thresholds

__all__ = ["TrainConfig", "data_fingerprint", "fit"]

log = logging.getLogger(__name__)

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
    tune: int = 0  # Optuna trials; 0 = use the parameters above
    seed: int = 0
    threads: int = 0  # 0 = all cores

    def params(self, y: BoolArray) -> dict[str, Any]:
        positives = max(int(y.sum()), 1)
        return {
            "objective": "binary:logistic",
            "eval_metric": ["aucpr", "auc"],
            "tree_method": "hist",
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            # Imbalance: weigh the rare fraud class up instead of resampling by default.
            "scale_pos_weight": (len(y) - positives) / positives,
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
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=config.rounds,
        evals=[(dvalid, "validation")],
        early_stopping_rounds=config.early_stopping,
        evals_result=history,
        verbose_eval=False,
    )
    best = booster.best_iteration
    return booster[: best + 1], float(history["validation"]["aucpr"][best])


def _tune(base: dict[str, Any], dtrain: xgb.DMatrix, dvalid: xgb.DMatrix, config: TrainConfig) -> dict[str, Any]:
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
        }
        return _train(params, dtrain, dvalid, config)[1]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=config.tune)
    log.info("tuning done", extra={"trials": config.tune, "best_validation_aucpr": round(study.best_value, 4)})
    return {**base, **study.best_params}


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
    if config.resample == "smote":
        X_train, y_train, medians = _smote(X_train, y_train, config.seed)
        impute = {name: float(m) for name, m in zip(features.names, medians, strict=True)}
    names = list(features.names)
    dtrain = xgb.DMatrix(X_train, label=y_train, feature_names=names, missing=np.nan)
    x_valid = X[valid]
    if impute:
        x_valid = np.where(np.isnan(x_valid), np.array(list(impute.values())), x_valid)
    dvalid = xgb.DMatrix(x_valid, label=y[valid], feature_names=names, missing=np.nan)
    params = config.params(y_train)
    if config.tune:
        params = _tune(params, dtrain, dvalid, config)
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
        },
        "params": {k: v for k, v in params.items() if k != "nthread"},
        "best_iteration": booster.num_boosted_rounds(),
        "config": asdict(config),
        "metrics": {"validation": classification_metrics(y[valid], scores, thresholds)},
    }
    return Model(booster=booster, features=features, thresholds=thresholds, info=info, impute=impute)
