"""The compiled trees must give XGBoost's own scores and fast contributions, bit for bit."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost as xgb

from fraudstream.model.artifact import Model
from fraudstream.model.trees import TreeEnsemble

FloatArray = npt.NDArray[np.float64]


def xgboosts(booster: xgb.Booster, X: FloatArray) -> tuple[FloatArray, FloatArray]:
    matrix = xgb.DMatrix(X, missing=np.nan)
    scores = booster.predict(matrix, validate_features=False)
    contributions = booster.predict(matrix, pred_contribs=True, approx_contribs=True, validate_features=False)
    return scores.astype(np.float64), contributions.astype(np.float64)


def on_the_splits(booster: xgb.Booster, n: int, seed: int) -> FloatArray:
    """Rows whose values sit on the model's split points, a float32 step either side of
    them, missing, or far out: where a walker that compared differently would part ways."""
    rng = np.random.default_rng(seed)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    n_features = int(booster.num_features())
    splits: list[list[float]] = [[] for _ in range(n_features)]
    for tree in trees:
        for left, feature, value in zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"], strict=True
        ):
            if left != -1:
                splits[feature].append(value)
    X = rng.normal(0.0, 100.0, size=(n, n_features))
    for f, values in enumerate(splits):
        if not values:
            continue
        at = np.float32(rng.choice(values, size=n))
        step = rng.choice([-1, 0, 0, 1], size=n)
        moved = np.where(
            step < 0,
            np.nextafter(at, np.float32(-np.inf)),
            np.where(step > 0, np.nextafter(at, np.float32(np.inf)), at),
        )
        on = rng.random(n) < 0.7
        X[on, f] = moved[on]
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.01] = 1e30
    X[rng.random(X.shape) < 0.01] = -1e30
    return X


def test_a_trained_models_scores_and_fast_contributions_are_xgboosts_bit_for_bit(trained_model: Model) -> None:
    trees = TreeEnsemble.from_booster(trained_model.booster)
    assert trees is not None
    X = on_the_splits(trained_model.booster, 4_000, seed=1)
    scores, contributions = trees.scores_and_contributions(X)
    expected_scores, expected_contributions = xgboosts(trained_model.booster, X)
    assert np.array_equal(scores, expected_scores)
    assert np.array_equal(contributions, expected_contributions)
    assert np.array_equal(scores, trained_model.predict(X))  # XGBoost's other predict path, too
    assert 0.01 < (scores >= trained_model.thresholds.review).mean() < 0.99, "the rows reach both sides"


@pytest.mark.parametrize(
    ("params", "rounds"),
    [
        ({"max_depth": 8, "base_score": 0.2}, 30),  # deeper trees, another base margin
        ({"max_depth": 3, "base_score": 0.3}, 10),  # numpy's float32 log would miss its margin by a bit
        ({"max_depth": 3, "base_score": 0.999}, 10),  # margins past the cap on exp's argument
        ({"max_depth": 2, "learning_rate": 1.0, "tree_method": "exact"}, 5),
        ({"max_depth": 4, "subsample": 0.5, "colsample_bynode": 0.5}, 60),
    ],
)
def test_other_logistic_boosters_too(params: dict[str, float | str], rounds: int) -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3_000, 12))
    X[rng.random(X.shape) < 0.2] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0.5).astype(float)
    booster = xgb.train({"objective": "binary:logistic", **params}, xgb.DMatrix(X, y, missing=np.nan), rounds)
    trees = TreeEnsemble.from_booster(booster)
    assert trees is not None
    rows = on_the_splits(booster, 2_000, seed=3)
    got = trees.scores_and_contributions(rows)
    expected = xgboosts(booster, rows)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_boosters_it_does_not_cover_are_left_to_xgboost(trained_model: Model) -> None:
    rng = np.random.default_rng(5)
    n_features = len(trained_model.features.names)
    X = rng.normal(size=(500, n_features))
    y = (X[:, 0] > 0).astype(float)
    regression = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(X, y), 5)
    dart = xgb.train({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3}, xgb.DMatrix(X, y), 5)
    frame = pd.DataFrame({"kind": pd.Categorical(rng.choice(["a", "b", "c", "d"], 500)), "x": X[:, 0]})
    categorical = xgb.train(
        {"objective": "binary:logistic", "max_cat_to_onehot": 1},
        xgb.DMatrix(frame, (frame["kind"].isin(["a", "c"])).astype(float), enable_categorical=True),
        5,
    )
    for booster in (regression, dart, categorical):
        assert TreeEnsemble.from_booster(booster) is None
    # A model with such a booster still scores, through XGBoost: as XGBoost itself does.
    for booster in (regression, dart):
        model = dataclasses.replace(trained_model, booster=booster)
        scores, contributions = model.scores_and_fast_contributions(X)
        expected_scores, expected_contributions = xgboosts(booster, X)
        assert np.array_equal(scores, expected_scores)
        assert np.array_equal(contributions, expected_contributions)


def test_the_walker_refuses_rows_of_the_wrong_width(trained_model: Model) -> None:
    trees = TreeEnsemble.from_booster(trained_model.booster)
    assert trees is not None
    with pytest.raises(ValueError, match="features"):
        trees.scores_and_contributions(np.zeros((3, len(trained_model.features.names) + 1)))
