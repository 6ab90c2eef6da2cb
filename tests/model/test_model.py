from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.model.evaluate import evaluate, history_features, train_on
from fraudstream.model.explain import top_reasons
from fraudstream.model.metrics import precision_at_k_per_day
from fraudstream.model.split import SplitConfig, split_masks
from fraudstream.model.thresholds import choose_thresholds
from fraudstream.model.train import TrainConfig
from fraudstream.schema import Outcome

FAST = TrainConfig(rounds=120, early_stopping=15)


@pytest.fixture(scope="module")
def dataset(history: tuple[pd.DataFrame, pd.DataFrame]) -> Dataset:
    transactions, labels = history
    return Dataset(
        transactions=transactions,
        labels=labels,
        inputs=frozenset({"customer", "merchant", "terminal", "device", "location", "channel", "category"}),
        source="simulated",
    )


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> Model:
    return train_on(dataset, FAST)


def test_trained_model_separates_fraud(model: Model, dataset: Dataset) -> None:
    validation = model.info["metrics"]["validation"]
    assert validation["average_precision"] > 0.5  # the base rate is about 0.02
    assert 0 < model.thresholds.review <= model.thresholds.decline < 1
    assert model.info["training"]["rows"] == len(dataset.transactions)
    assert len(model.info["training"]["data_fingerprint"]) == 16


def test_artifact_round_trip(model: Model, dataset: Dataset, tmp_path: Path) -> None:
    _, X = history_features(dataset)
    model.save(tmp_path / "m")
    loaded = Model.load(tmp_path / "m")
    assert loaded.version == model.version and loaded.version.startswith("m-")
    assert np.array_equal(loaded.predict(X[:500]), model.predict(X[:500]))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    for key in ("features", "thresholds", "training", "metrics", "libraries", "schema_version", "params"):
        assert key in manifest
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_loading_a_damaged_or_foreign_artifact_fails_clearly(model: Model, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no manifest\.json"):
        Model.load(tmp_path / "nothing")
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 999}))
    with pytest.raises(ModelLoadError, match="retrain"):
        Model.load(path)
    features = {**manifest["features"], "names": [*manifest["features"]["names"][:-1], "customer_shoe_size"]}
    (path / "manifest.json").write_text(json.dumps({**manifest, "features": features}))
    with pytest.raises(ModelLoadError, match="customer_shoe_size"):
        Model.load(path)
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "model.ubj").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="does not match its manifest"):
        Model.load(path)


def test_model_refuses_data_without_its_inputs(model: Model) -> None:
    with pytest.raises(ModelLoadError, match="customer_id"):
        model.check_inputs({"merchant", "terminal", "device", "location", "channel", "category"})
    model.check_inputs({"customer", "merchant", "terminal", "device", "location", "channel", "category"})


def test_reasons_point_at_what_raised_the_score(model: Model, dataset: Dataset) -> None:
    _, X = history_features(dataset)
    scores = model.predict(X)
    flagged = np.flatnonzero(scores >= model.thresholds.decline)[:50]
    reasons = top_reasons(model.features, X[flagged], model.contributions(X[flagged]), np.ones(len(flagged), bool))
    assert all(0 < len(r) <= 3 for r in reasons)
    assert all(r[0].contribution >= r[-1].contribution > 0 for r in reasons)
    texts = " ".join(reason.text for row in reasons for reason in row)
    assert "km" in texts or "×" in texts or "%" in texts
    assert not any("{" in reason.text for row in reasons for reason in row)
    approved = np.flatnonzero(scores < model.thresholds.review)[:20]
    calm = top_reasons(model.features, X[approved], model.contributions(X[approved]), np.zeros(len(approved), bool))
    assert all(reason.contribution < 0 for row in calm for reason in row)
    assert model.outcomes(np.array([0.0, model.thresholds.review, 1.0])).tolist() == [
        Outcome.APPROVE,
        Outcome.REVIEW,
        Outcome.DECLINE,
    ]


def test_evaluation_is_time_ordered_with_a_gap(dataset: Dataset) -> None:
    result = evaluate(dataset, SplitConfig(test_fraction=0.25, gap_days=3), FAST, k=20)
    m = result.metrics
    for key in (
        "roc_auc",
        "average_precision",
        "precision",
        "recall",
        "f1",
        "threshold",
        "precision_at_k_per_day",
    ):
        assert 0 <= m[key] <= 1, key
    assert m["roc_auc"] > 0.9
    split = m["split"]
    assert pd.Timestamp(split["test_start"]) - pd.Timestamp(split["train_end"]) == pd.Timedelta(days=3)
    assert set(m["recall_by_scenario"]) <= {
        "account_takeover",
        "card_testing",
        "compromised_terminal",
        "geo_anomaly",
        "amount_outlier",
    }
    assert m["n_train"] + m["n_test"] < len(dataset.transactions)  # the gap is unused


def test_split_windows() -> None:
    ts = pd.Series(pd.date_range("2026-01-01", periods=24 * 30, freq="h", tz="UTC"))
    train, test, _windows = split_masks(ts, SplitConfig(train_days=10, gap_days=2, test_days=5))
    assert ts[train].max() < pd.Timestamp("2026-01-11", tz="UTC") <= ts[test].min() - pd.Timedelta(days=2)
    assert ts[test].max() < pd.Timestamp("2026-01-18", tz="UTC")
    with pytest.raises(ValueError, match="empty training window"):
        split_masks(ts, SplitConfig(test_fraction=0.5, gap_days=40))
    train, test, _ = split_masks(ts, SplitConfig(method="random", test_fraction=0.3))
    assert 0.2 < test.mean() < 0.4 and not (train & test).any()


def test_default_gap_is_a_week_or_a_quarter_of_a_short_history() -> None:
    month = pd.Series(pd.date_range("2026-01-01", periods=24 * 60, freq="h", tz="UTC"))
    assert split_masks(month, SplitConfig())[2]["gap_days"] == 7
    two_days = pd.Series(pd.date_range("2013-09-01", periods=2 * 24 * 60, freq="min", tz="UTC"))
    train, test, windows = split_masks(two_days, SplitConfig())
    assert windows["gap_days"] == pytest.approx(0.5, abs=1e-3)
    assert two_days[test].min() - two_days[train].max() >= pd.Timedelta(days=0.5)


def test_thresholds_by_fbeta_and_cost() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(5_000) < 0.05
    scores = np.clip(np.where(y, rng.normal(0.7, 0.15, 5_000), rng.normal(0.2, 0.15, 5_000)), 0, 1)
    amounts = rng.uniform(10, 500, 5_000)
    fbeta = choose_thresholds(y, scores, amounts, "fbeta", beta=2)
    assert 0.2 < fbeta.review <= fbeta.decline < 1
    cheap_reviews = choose_thresholds(y, scores, amounts, "cost", review_cost=0.1)
    dear_reviews = choose_thresholds(y, scores, amounts, "cost", review_cost=100)
    assert cheap_reviews.review <= dear_reviews.review  # cheap reviews: review more
    with pytest.raises(ValueError, match="both fraud and legitimate"):
        choose_thresholds(np.zeros(10, bool), np.zeros(10), np.ones(10))


def test_precision_at_k_per_day_ranks_customers() -> None:
    ts = pd.Series(pd.to_datetime(["2026-01-01 10:00"] * 4 + ["2026-01-02 10:00"] * 3, utc=True))
    customers = pd.Series(["a", "a", "b", "c", "a", "b", "c"])
    y = np.array([True, False, False, False, False, False, True])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.1, 0.5])
    # day 1: top-2 customers a (fraud), b -> 1/2; day 2: a, c (fraud) -> 1/2
    assert precision_at_k_per_day(y, scores, ts, customers, k=2) == pytest.approx(0.5)
    assert precision_at_k_per_day(y, scores, ts, None, k=1) == pytest.approx(0.5)  # per transaction
