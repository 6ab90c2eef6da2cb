from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fraudstream.features.definitions import PER_PAYMENT_INPUTS, FeatureSet
from fraudstream.io.dataset import BadDataError, Dataset
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.model.evaluate import evaluate, history_features, train_on
from fraudstream.model.explain import LOWERING, top_reasons
from fraudstream.model.metrics import (
    fraud_reported_before,
    precision_at_k_per_day,
    precision_at_k_transactions_per_day,
)
from fraudstream.model.split import SplitConfig, split_masks
from fraudstream.model.thresholds import choose_thresholds
from fraudstream.model.train import TrainConfig, fit
from fraudstream.schema import Outcome, Reason

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


def fit_model(X: np.ndarray, dataset: Dataset, features: FeatureSet, config: TrainConfig) -> Model:
    ts = dataset.transactions["timestamp"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    return fit(X, dataset.is_fraud, ts, dataset.transactions["amount"].to_numpy(float), features, config)


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
    with pytest.raises(ModelLoadError, match="is a file: give the model's directory"):
        Model.load(path / "manifest.json")
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


def test_a_version_covers_everything_that_decides(model: Model, tmp_path: Path) -> None:
    path = model.save(tmp_path / "m")
    version = Model.load(path).version
    manifest = json.loads((path / "manifest.json").read_text())
    edits = {
        "thresholds": {**manifest["thresholds"], "review": manifest["thresholds"]["review"] / 2},
        "features": {**manifest["features"], "label_delay_days": 3.0},
        "impute": {"amount": 1.0},
    }
    for key, value in edits.items():
        (path / "manifest.json").write_text(json.dumps({**manifest, key: value}))
        with pytest.raises(ModelLoadError, match="changed after the model was saved"):
            Model.load(path)
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert Model.load(path).version == version
    changed = dataclasses.replace(model, thresholds=dataclasses.replace(model.thresholds, review=0.01))
    changed.save(tmp_path / "m2", name="m")
    assert changed.version != version


def test_model_refuses_data_without_its_inputs(model: Model) -> None:
    with pytest.raises(ModelLoadError, match="customer_id"):
        model.check_inputs({"merchant", "terminal", "device", "location", "channel", "category"})
    model.check_inputs({"customer", "merchant", "terminal", "device", "location", "channel", "category"})


def test_reasons_point_at_what_raised_the_score(model: Model, dataset: Dataset) -> None:
    _, X = history_features(dataset)
    scores = model.predict(X)
    everything = {need: np.ones(len(X), bool) for need in PER_PAYMENT_INPUTS}

    def reasons_of(rows: np.ndarray, flagged: bool) -> list[list[Reason]]:
        present = {need: mask[rows] for need, mask in everything.items()}
        return top_reasons(model.features, X[rows], model.contributions(X[rows]), np.full(len(rows), flagged), present)

    reasons = reasons_of(np.flatnonzero(scores >= model.thresholds.decline)[:50], True)
    assert all(0 < len(r) <= 3 for r in reasons)
    assert all(r[0].contribution >= r[-1].contribution > 0 for r in reasons)
    texts = " ".join(reason.text for row in reasons for reason in row)
    assert "km" in texts or "×" in texts or "%" in texts
    assert not any("{" in reason.text or "nan" in reason.text for row in reasons for reason in row)
    calm = reasons_of(np.flatnonzero(scores < model.thresholds.review / 10)[:20], False)
    assert calm and all(r.contribution < 0 and r.text.startswith(LOWERING) for row in calm for r in row)
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


def _fbeta_at(y: np.ndarray, scores: np.ndarray, threshold: float, beta: float) -> float:
    flagged = scores >= threshold
    caught = float((flagged & y).sum())
    precision, recall = caught / max(flagged.sum(), 1), caught / y.sum()
    return 0.0 if caught == 0 else (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def _cost_of(y: np.ndarray, scores: np.ndarray, amounts: np.ndarray, review: float, decline: float) -> float:
    """Missed fraud money + 5 per review + 0.2 x declined good money, counted row by row."""
    missed = amounts[y & (scores < review)].sum()
    reviews = ((scores >= review) & (scores < decline)).sum() * 5.0
    declined = amounts[~y & (scores >= decline)].sum() * 0.2
    return float(missed + reviews + declined)


def test_thresholds_by_fbeta_and_cost_are_the_brute_force_optimum() -> None:
    rng = np.random.default_rng(0)
    n = 1_500
    y = rng.random(n) < 0.05
    scores = np.round(np.clip(np.where(y, rng.normal(0.7, 0.15, n), rng.normal(0.2, 0.15, n)), 0, 1), 3)
    amounts = rng.uniform(10, 500, n)
    fbeta = choose_thresholds(y, scores, amounts, "fbeta", beta=2)
    assert 0.2 < fbeta.review < fbeta.decline < 1 and "decline_fallback" not in fbeta.detail
    every = np.unique(scores)
    assert _fbeta_at(y, scores, fbeta.review, 2) == pytest.approx(max(_fbeta_at(y, scores, t, 2) for t in every))
    assert _fbeta_at(y, scores, fbeta.decline, 0.5) == pytest.approx(max(_fbeta_at(y, scores, t, 0.5) for t in every))

    cost = choose_thresholds(y, scores, amounts, "cost", review_cost=5.0, decline_cost=0.2)
    grid = [*np.unique(np.quantile(scores, np.linspace(0.5, 1.0, 201))), np.inf]
    best = min(_cost_of(y, scores, amounts, r, d) for i, r in enumerate(grid) for d in grid[i:])
    assert _cost_of(y, scores, amounts, cost.review, cost.decline) == pytest.approx(best)
    assert cost.detail["expected_cost"] == pytest.approx(best) and cost.review < cost.decline
    cheap_reviews = choose_thresholds(y, scores, amounts, "cost", review_cost=0.1)
    dear_reviews = choose_thresholds(y, scores, amounts, "cost", review_cost=100)
    assert cheap_reviews.review < dear_reviews.review  # cheap reviews: review more
    with pytest.raises(ValueError, match="both fraud and legitimate"):
        choose_thresholds(np.zeros(10, bool), np.zeros(10), np.ones(10))


def test_decline_is_always_above_review() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(2_000) < 0.05
    # Two scores only: F-2 and F-0.5 pick the same threshold.
    scores = np.where(y & (rng.random(2_000) < 0.8), 0.9, 0.1)
    thresholds = choose_thresholds(y, scores, np.ones(2_000), "fbeta")
    assert thresholds.review == pytest.approx(0.9) and thresholds.decline > thresholds.review
    assert thresholds.detail["decline_fallback"] == 1.0
    spread = np.clip(np.where(y, rng.normal(0.7, 0.15, 2_000), rng.normal(0.2, 0.15, 2_000)), 0, 1)
    fallback = choose_thresholds(y, spread, np.ones(2_000), "fbeta")
    assert "decline_fallback" not in fallback.detail and fallback.decline > fallback.review


def test_early_stopping_keeps_the_round_of_best_average_precision(dataset: Dataset) -> None:
    import xgboost as xgb

    features, X = history_features(dataset)
    model = fit_model(X, dataset, features, FAST)
    valid = model.info["training"]["validation_rows"]
    order = np.argsort(dataset.transactions["timestamp"].to_numpy(), kind="stable")
    rows = order[-valid:]  # the latest rows are the validation slice
    dvalid = xgb.DMatrix(X[rows], label=dataset.is_fraud[rows], missing=np.nan)
    full = xgb.train(FAST.params(), xgb.DMatrix(X[order[:-valid]], label=dataset.is_fraud[order[:-valid]]), 120)
    curve = [
        average_precision_score(dataset.is_fraud[rows], full[:r].predict(dvalid, validate_features=False))
        for r in range(1, model.info["trees"] + FAST.early_stopping + 1)
    ]
    assert model.info["trees"] == int(np.argmax(curve)) + 1
    assert model.info["params"]["scale_pos_weight"] == 1.0


def test_precision_at_k_per_day_ranks_customers() -> None:
    ts = pd.Series(pd.to_datetime(["2026-01-01 10:00"] * 4 + ["2026-01-02 10:00"] * 3, utc=True))
    customers = pd.Series(["a", "a", "b", "c", "a", "b", "c"])
    y = np.array([True, False, False, False, False, False, True])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.1, 0.5])
    # day 1: top-2 customers a (fraud), b -> 1/2; day 2: a, c (fraud) -> 1/2
    assert precision_at_k_per_day(y, scores, ts, customers, k=2) == pytest.approx(0.5)
    assert precision_at_k_per_day(y, scores, ts, None, k=1) == pytest.approx(0.5)  # per transaction
    # Customer a was known compromised from day 2 on: nobody alerts on a blocked card again.
    known = pd.Series(pd.to_datetime([None, None, None, None, "2026-01-01 12:00", None, None], utc=True))
    # day 2 without a: b, c (fraud) -> 1/2; with k=1: c alone -> 1
    assert precision_at_k_per_day(y, scores, ts, customers, k=1, known_since=known) == pytest.approx((1 + 1) / 2)
    assert precision_at_k_per_day(y, scores, ts, customers, k=1) == pytest.approx((1 + 0) / 2)
    assert precision_at_k_transactions_per_day(y, scores, ts, k=1) == pytest.approx(0.5)


def test_recall_after_a_report_counts_only_reports_known_before_the_payment() -> None:
    rows = pd.DataFrame(
        {
            "terminal_id": ["t1", "t1", "t2", None],
            "timestamp": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-01-05", "2026-01-05"], utc=True),
        }
    )
    reports = pd.DataFrame(
        {
            "terminal_id": ["t1", "t2"],
            "timestamp": pd.to_datetime(["2025-11-01", "2026-01-01"], utc=True),
            "reported_at": pd.to_datetime(["2026-01-02", "2026-01-06"], utc=True),
        }
    )
    # t1's fraud was paid long before (outside 30 days) for the first row, t2's reported after its payment.
    assert fraud_reported_before(rows, reports, "terminal_id", pd.Timedelta(days=90)).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert fraud_reported_before(rows, reports, "terminal_id", pd.Timedelta(days=30)).tolist() == [
        False,
        False,
        False,
        False,
    ]


def test_evaluation_warns_and_checks_labels_first(dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    short = SplitConfig(train_days=14, gap_days=1, test_days=0.2)
    result = evaluate(dataset, short, FAST, k=20)
    m = result.metrics
    assert m["n_frauds_test"] < 30 and any("test window holds only" in w for w in m["warnings"])
    assert m["best_iteration"] == m["trees"] - 1 and m["label_delay_days"] == pytest.approx(dataset.label_delay.days)
    late = dataclasses.replace(dataset, label_delay_days=30.0)  # longer than the 21-day history
    assert any("see none" in w for w in evaluate(late, short, FAST, k=20).metrics["warnings"])

    def no_features(_: Dataset) -> None:
        raise AssertionError("features computed for a data set without labels")

    monkeypatch.setattr("fraudstream.model.evaluate.history_features", no_features)
    unlabelled = Dataset(transactions=dataset.transactions, labels=None, inputs=dataset.inputs)
    with pytest.raises(BadDataError, match="no labels"):
        evaluate(unlabelled, SplitConfig(), FAST)
    with pytest.raises(BadDataError, match="no labels"):
        train_on(unlabelled, FAST)
