"""A simulated world and a model trained on it, cached between benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.model.evaluate import train_on
from fraudstream.model.train import TrainConfig
from fraudstream.schema import Transaction
from fraudstream.simulate import World, WorldConfig

CACHE = Path(__file__).parent / ".cache"
ALL_INPUTS = frozenset({"customer", "merchant", "terminal", "device", "location", "channel", "category"})
CONFIG = WorldConfig(customers=10_000, merchants=1_000, seed=42)
HISTORY_DAYS = 30


def world() -> World:
    return World(CONFIG)


def history() -> tuple[pd.DataFrame, pd.DataFrame]:
    return world().generate(HISTORY_DAYS)


def model() -> tuple[Model, Path]:
    path = CACHE / "model"
    try:
        return Model.load(path), path
    except ModelLoadError:
        transactions, labels = history()
        dataset = Dataset(transactions=transactions, labels=labels, inputs=ALL_INPUTS, source="bench world")
        trained = train_on(dataset, TrainConfig())
        trained.save(path)
        return Model.load(path), path


def live_transactions(n: int) -> list[Transaction]:
    """Transactions after the history, as the live system would receive them."""
    out: list[Transaction] = []
    day = HISTORY_DAYS
    w = world()
    while len(out) < n:
        frame, _ = w.day(day)
        out += [
            Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
            for r in frame.to_dict("records")
        ]
        day += 1
    return out[:n]
