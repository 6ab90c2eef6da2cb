"""Shared fixtures: small deterministic worlds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.model.evaluate import train_on
from fraudstream.model.train import TrainConfig
from fraudstream.simulate import World, WorldConfig

ALL_INPUTS = frozenset({"customer", "merchant", "terminal", "device", "location", "channel", "category"})


@pytest.fixture(scope="session")
def world() -> World:
    return World(WorldConfig(customers=2_000, merchants=200, seed=11, fraud_rate=0.02))


@pytest.fixture(scope="session")
def history(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three weeks of the session world: (transactions, labels)."""
    return world.generate(21)


@pytest.fixture(scope="session")
def trained_model(history: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A small model trained on the session world, saved and loaded like a real one."""
    transactions, labels = history
    dataset = Dataset(transactions=transactions, labels=labels, inputs=ALL_INPUTS, source="session world")
    model = train_on(dataset, TrainConfig(rounds=120, early_stopping=15))
    path: Path = tmp_path_factory.mktemp("models") / "session"
    model.save(path)
    return Model.load(path)
