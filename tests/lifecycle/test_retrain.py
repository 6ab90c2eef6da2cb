"""Retraining from the store: a challenger judged against the champion on matured labels,
promoted only if it is better."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.config import Settings
from fraudstream.lifecycle.registry import Registry
from fraudstream.lifecycle.retrain import RetrainConfig, retrain
from fraudstream.model.train import TrainConfig
from fraudstream.schema import Label, Transaction
from fraudstream.simulate import World, WorldConfig
from fraudstream.store import Store

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
NOW = datetime.now(UTC).replace(microsecond=0)
QUICK = TrainConfig(rounds=60, early_stopping=10)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Forty days a service stored, ending now, with the labels reported by now."""
    home = tmp_path_factory.mktemp("store")
    world = World(WorldConfig(customers=900, merchants=60, seed=4, fraud_rate=0.03, start=NOW - timedelta(days=40)))
    transactions, labels = world.generate(40)
    labels = labels[labels["reported_at"] < pd.Timestamp(NOW)]
    settings = Settings(home=home)
    store = Store(settings.database)
    store.save_transactions(
        [
            Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
            for r in transactions.to_dict("records")
        ]
    )
    store.add_labels(
        [
            Label(transaction_id=r["transaction_id"], is_fraud=bool(r["is_fraud"]), reported_at=r["reported_at"])
            for r in labels.to_dict("records")
        ]
    )
    store.close()
    return settings


def test_a_challenger_is_promoted_only_when_it_is_better(stored: Settings) -> None:
    store, registry = Store(stored.database), Registry(stored.models_dir)
    first = retrain(store, registry, RetrainConfig(test_days=10, train=QUICK), NOW)
    assert first.promoted and first.why == "no champion yet" and store.champions.champion() == first.challenger
    window = first.window
    assert window["frauds"] > 5 and window["train_end"] < window["start"] < window["end"]
    # Only matured payments are judged: paid at least one label delay (rounded here) before now.
    assert datetime.fromisoformat(window["end"]) <= NOW - timedelta(days=window["gap_days"] - 0.01)
    report = registry.get(first.challenger).path
    assert json.loads((report / "comparison.json").read_text())["promoted"] is True
    assert "Promoted" in (report / "comparison.md").read_text()

    # The same data again, asked to beat the champion by a margin no model reaches: kept.
    seeded = TrainConfig(rounds=60, early_stopping=10, seed=7)
    second = retrain(store, registry, RetrainConfig(test_days=10, ap_margin=0.5, train=seeded), NOW)
    assert not second.promoted and second.why.startswith("AP not better by 0.5")
    assert [j.version for j in second.judged] == [second.challenger, first.challenger]
    assert store.champions.champion() == first.challenger  # the champion stays
    assert second.challenger in {m.version for m in registry.versions()}  # registered all the same
    store.close()


def test_retrain_from_the_command_line_says_promoted_or_kept_by_its_exit_status(stored: Settings) -> None:
    database = ["--database", stored.database, "--models", str(stored.models_dir)]
    kept = runner.invoke(app, ["retrain", "--test-days", "10", "--ap-margin", "0.9", "--json", *database])
    assert kept.exit_code in (0, 3), kept.output
    if kept.exit_code == 0:  # no champion before this run: promoted whatever the margin
        kept = runner.invoke(app, ["retrain", "--test-days", "10", "--ap-margin", "0.9", "--json", *database])
    assert kept.exit_code == 3, kept.output
    result = json.loads(kept.stdout[kept.stdout.index("{") :])
    assert result["promoted"] is False and result["champion"] is not None
    empty = Path(stored.home) / "empty.db"
    nothing = runner.invoke(app, ["retrain", "--database", f"sqlite:///{empty}", "--models", str(stored.models_dir)])
    assert nothing.exit_code == 2 and "no payment stored" in nothing.output
