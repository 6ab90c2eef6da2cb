"""train / evaluate from the command line, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.features import FeatureEngine
from fraudstream.io import write_frame
from fraudstream.io.dataset import load_dataset
from fraudstream.model.artifact import Model

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
REQUIRED = {
    "roc_auc",
    "average_precision",
    "precision",
    "recall",
    "f1",
    "threshold",
    "precision_at_k_per_day",
    "precision_at_k_transactions_per_day",
    "n_train",
    "n_test",
    "n_frauds_test",
    "fraud_rate_test",
    "best_iteration",
    "trees",
    "label_delay_days",
    "warnings",
}


@pytest.fixture(scope="module")
def world_files(tmp_path_factory: pytest.TempPathFactory, history: tuple[pd.DataFrame, pd.DataFrame]) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_frame(history[0], folder / "world.parquet")
    write_frame(history[1], folder / "world.labels.parquet")
    return folder


def test_evaluate_json_prints_one_object(world_files: Path) -> None:
    args = [
        "evaluate",
        "--data",
        str(world_files / "world.parquet"),
        "--labels",
        str(world_files / "world.labels.parquet"),
    ]
    result = runner.invoke(app, [*args, "--json", "--gap-days", "2", "--k", "10"])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(metrics) >= REQUIRED
    assert metrics["roc_auc"] > 0.9 and metrics["ranked_by"] == "customer"
    assert "recall_by_scenario" in metrics
    assert "compromised_terminal" not in metrics["recall_by_scenario"] or (
        "after_terminal_report" in metrics["recall_by_scenario"]["compromised_terminal"]
    )
    assert "label delay" in result.stderr and "fraud labels were reported by then" in result.stderr


def test_evaluate_writes_a_report(world_files: Path, tmp_path: Path) -> None:
    args = [
        "evaluate",
        "--data",
        str(world_files / "world.parquet"),
        "--labels",
        str(world_files / "world.labels.parquet"),
    ]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / "r"), "--threshold-method", "cost"])
    assert result.exit_code == 0, result.output
    for name in (
        "pr_curve.png",
        "roc_curve.png",
        "confusion_matrix.png",
        "feature_importance.png",
        "report.md",
    ):
        assert (tmp_path / "r" / name).stat().st_size > 0
    assert "ROC AUC" in result.stdout and "recall: account_takeover" in result.stdout
    assert "Recall by fraud scenario" in (tmp_path / "r" / "report.md").read_text()


def test_train_writes_a_loadable_model(world_files: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "fraud"
    args = [
        "train",
        "--data",
        str(world_files / "world.parquet"),
        "--labels",
        str(world_files / "world.labels.parquet"),
    ]
    result = runner.invoke(app, [*args, "--out", str(out), "--scale-pos-weight", "3", "--label-delay-days", "5"])
    assert result.exit_code == 0, result.output
    model = Model.load(out)
    assert model.version in result.stdout and f"{model.info['trees']} trees" in result.stdout
    assert model.info["training"]["source"].endswith("world.parquet")
    assert model.info["params"]["scale_pos_weight"] == 3.0
    assert model.features.label_delay_days == 5.0 and model.features.norms is not None
    assert "label delay 5.00 days (given)" in result.stderr


def test_thresholds_set_by_hand_save_a_new_version(trained_model: Model, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    trained_model.save(model_dir)
    before = Model.load(model_dir).version
    result = runner.invoke(app, ["thresholds", "--model", str(model_dir), "--review", "0.2", "--decline", "0.6"])
    assert result.exit_code == 0, result.output
    after = Model.load(model_dir)
    assert after.version != before and after.version in result.stdout
    assert (after.thresholds.review, after.thresholds.decline, after.thresholds.method) == (0.2, 0.6, "manual")
    wrong = runner.invoke(app, ["thresholds", "--model", str(model_dir), "--review", "0.6", "--decline", "0.2"])
    assert wrong.exit_code == 2 and "above the review threshold" in wrong.output


def test_score_writes_one_row_per_transaction(world_files: Path, trained_model: Model, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    trained_model.save(model_dir)
    data = ["--data", str(world_files / "world.parquet"), "--labels", str(world_files / "world.labels.parquet")]
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", "--model", str(model_dir), *data, "--out", str(out), "--chunk", "5000"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    history = pd.read_parquet(world_files / "world.parquet")
    assert len(scores) == len(history) and set(scores["transaction_id"]) == set(history["transaction_id"])
    assert list(scores.columns[:6]) == ["transaction_id", "timestamp", "customer_id", "amount", "score", "outcome"]
    assert {"reason_1", "reason_2", "reason_3"} <= set(scores.columns)
    flagged = scores[scores["outcome"] != "approve"]
    assert len(flagged) and flagged["reason_1"].notna().all()
    # The scores are evaluate's: the same features, point in time, however the history is chunked.
    dataset = load_dataset(world_files / "world.parquet", labels_path=world_files / "world.labels.parquet")
    expected = trained_model.predict(
        FeatureEngine(trained_model.features).history(dataset.transactions, dataset.labels)
    )
    by_id = pd.Series(expected, index=dataset.transactions["transaction_id"])
    np.testing.assert_allclose(scores["score"], by_id.loc[scores["transaction_id"]].to_numpy(), rtol=1e-6)
    wrong = runner.invoke(app, ["score", "--model", str(model_dir), *data, "--out", str(tmp_path / "s.txt")])
    assert wrong.exit_code == 2
    blind = ["score", "--model", str(model_dir), "--data", str(world_files / "world.parquet")]
    unlabelled = runner.invoke(app, [*blind, "--out", str(tmp_path / "blind.parquet")])
    assert unlabelled.exit_code == 0 and "warning: no labels" in unlabelled.stderr


def test_evaluate_ulb_preset_on_a_ulb_shaped_file(tmp_path: Path) -> None:
    path = tmp_path / "creditcard.csv"
    assert (
        runner.invoke(
            app, ["simulate", "--shape", "ulb", "--rows", "40000", "--fraud-rate", "0.01", "--out", str(path)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["evaluate", "--data", str(path), "--preset", "ulb", "--gap-days", "0.05", "--json"])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["ranked_by"] == "transaction" and metrics["features"] == 32
    assert metrics["average_precision"] > 0.5


@pytest.mark.parametrize("extra", [["--tune", "2"], ["--resample", "smote"]])
def test_tuning_and_smote(world_files: Path, tmp_path: Path, extra: list[str]) -> None:
    args = [
        "train",
        "--data",
        str(world_files / "world.parquet"),
        "--labels",
        str(world_files / "world.labels.parquet"),
    ]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "m"), *extra])
    assert result.exit_code == 0, result.output
    model = Model.load(tmp_path / "m")
    assert (model.impute is not None) == ("smote" in extra)
    if "--tune" in extra:
        tuning = model.info["tuning"]
        assert tuning["trials"] == 2 and len(tuning["validation_aucpr"]) == 2
        assert tuning["best_validation_aucpr"] == max(tuning["validation_aucpr"])
        assert all(model.info["params"][name] == value for name, value in tuning["best_params"].items())
    else:  # SMOTE: synthetic frauds up to one per five legitimate payments, no legitimate one added
        before, after = model.info["resampled"]["before"], model.info["resampled"]["after"]
        assert after["frauds"] > before["frauds"]
        assert after["rows"] - after["frauds"] == before["rows"] - before["frauds"]
        assert after["frauds"] == int(0.2 * (after["rows"] - after["frauds"]))


def test_user_mistakes_get_messages_not_tracebacks(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    path = tmp_path / "h.csv"
    pd.DataFrame({"timestamp": ["2026-01-01T00:00:00Z"], "amount": ["x"]}).to_csv(path, index=False)
    bad = runner.invoke(app, ["train", "--data", str(path)])
    assert bad.exit_code == 2 and "row 1, column 'amount'" in bad.stderr
    assert "Traceback" not in bad.output
    wrong = runner.invoke(app, ["evaluate", "--data", str(path), "--split", "sideways"])
    assert wrong.exit_code == 2
