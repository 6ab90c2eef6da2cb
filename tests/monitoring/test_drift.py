"""Drift: PSI against the training reference, offline and live."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.config import Settings
from fraudstream.io import write_frame
from fraudstream.model.artifact import Model
from fraudstream.monitoring.drift import DriftMonitor, psi_of, reference
from fraudstream.runtime import build_runtime
from fraudstream.schema import Transaction
from fraudstream.simulate import World

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(0)
    train = rng.lognormal(3, 1, (20_000, 2))
    train[::10, 1] = np.nan  # a feature that is sometimes missing
    ref = reference(train, ["amount", "distance"], rng.random(20_000))
    same = rng.lognormal(3, 1, 5_000)
    assert psi_of(ref["features"]["amount"], same) < 0.02
    assert psi_of(ref["features"]["amount"], same * 5) > 1.0
    assert psi_of(ref["features"]["distance"], np.full(1_000, np.nan)) > 1.0  # now always missing
    assert len(ref["features"]["amount"]["shares"]) == 11 and abs(sum(ref["features"]["amount"]["shares"]) - 1) < 1e-9


def test_the_monitor_keeps_a_sliding_window_of_samples() -> None:
    rng = np.random.default_rng(1)
    ref = reference(rng.normal(0, 1, (10_000, 1)), ["x"], rng.random(10_000))
    monitor = DriftMonitor(ref, ["x"], window=1_000, sample=100)
    for _ in range(20):
        monitor.observe(rng.normal(0, 1, (500, 1)), rng.random(500))
    assert monitor.psi()[0]["x"] < 0.05
    for _ in range(20):  # the window now holds only shifted rows
        monitor.observe(rng.normal(3, 1, (500, 1)), rng.random(500))
    by_feature, score = monitor.psi()
    assert by_feature["x"] > 1.0 and score < 0.05


def test_live_gauges_rise_when_the_traffic_shifts(trained_model: Model, world: World, tmp_path: Path) -> None:
    runtime = build_runtime(Settings(home=tmp_path, max_future_hours=24 * 365 * 10), model=trained_model)
    service = runtime.service
    assert service.drift is not None
    service.drift.window, service.drift.sample = 2_000, 10_000  # every row: a small test needs them all

    def day(n: int, scale: float = 1.0) -> list[Transaction]:
        frame = world.day(n)[0].head(2_000).assign(amount=lambda f: f["amount"] * scale)
        return [
            Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
            for r in frame.to_dict("records")
        ]

    def gauges() -> dict[str, float]:
        found = {f.name: f for f in text_string_to_metric_families(service.metrics.exposition().decode())}
        return {s.labels["feature"]: s.value for s in found["fraudstream_feature_psi"].samples}

    service.decide(day(21))  # the world the model was trained on, a day later
    calm = gauges()["amount"]
    time.sleep(1.05)  # gauges are set at most once a second
    service.decide(day(22, scale=50))  # the same payments, fifty times larger
    assert calm < 0.1 < 0.25 < gauges()["amount"]
    service.store.close()


def test_drift_from_the_command_line(
    trained_model: Model, tmp_path: Path, history: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    model_dir = trained_model.save(tmp_path / "model")
    transactions, labels = history
    write_frame(transactions, tmp_path / "same.parquet")
    write_frame(labels, tmp_path / "same.labels.parquet")
    shifted = transactions.assign(amount=transactions["amount"] * 8)
    write_frame(shifted, tmp_path / "shifted.parquet")
    same = runner.invoke(
        app,
        [
            "drift",
            "--model",
            str(model_dir),
            "--data",
            str(tmp_path / "same.parquet"),
            "--labels",
            str(tmp_path / "same.labels.parquet"),
            "--json",
        ],
    )
    assert same.exit_code == 0, same.output
    moved = runner.invoke(
        app,
        [
            "drift",
            "--model",
            str(model_dir),
            "--data",
            str(tmp_path / "shifted.parquet"),
            "--labels",
            str(tmp_path / "same.labels.parquet"),
            "--top",
            "3",
        ],
    )
    assert moved.exit_code == 0, moved.output
    import json

    calm = json.loads(same.stdout[same.stdout.index("{") :])
    assert calm["feature_psi"]["amount"] < 0.1
    lines = moved.stdout.splitlines()
    assert lines[0].startswith("score") and len(lines) == 4  # the score, then the top 3
    assert all(line.endswith("drifted") and "amount" in line for line in lines[1:])  # every amount moved


def test_reading_the_psi_for_the_dashboard_does_not_put_the_gauges_off() -> None:
    rng = np.random.default_rng(2)
    ref = reference(rng.normal(0, 1, (5_000, 1)), ["x"], rng.random(5_000))
    monitor = DriftMonitor(ref, ["x"], window=5_000, sample=1_000)
    monitor.observe(rng.normal(0, 1, (400, 1)), rng.random(400))
    assert not monitor.due(0.0)  # fewer than enough rows: no gauge yet
    monitor.observe(rng.normal(0, 1, (400, 1)), rng.random(400))
    monitor.top()  # the dashboard reads
    assert monitor.due(60.0) and not monitor.due(60.0)  # due once, then not for a minute
