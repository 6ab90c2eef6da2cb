"""The zero-infrastructure demo: a simulated world, a trained and evaluated model, explained decisions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from fraudstream.features import MemoryState
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.model.evaluate import evaluate, train_on
from fraudstream.model.split import SplitConfig
from fraudstream.model.train import TrainConfig
from fraudstream.schema import Outcome, Transaction
from fraudstream.scoring import Scorer
from fraudstream.simulate import World, WorldConfig

__all__ = ["DemoWorld", "explained_decisions", "prepare"]

ALL_INPUTS = frozenset({"customer", "merchant", "terminal", "device", "location", "channel", "category"})


@dataclass
class DemoWorld:
    world: World
    days: int
    transactions: pd.DataFrame
    labels: pd.DataFrame
    model: Model
    metrics: dict[str, object]


def prepare(home: Path, customers: int, days: int, seed: int, console: Console) -> DemoWorld:
    """Simulate `days` of history, evaluate a model on it (time split), train the final one."""
    world = World(WorldConfig(customers=customers, merchants=max(20, customers // 10), seed=seed))
    with console.status(f"simulating {days} days of {customers:,} customers"):
        transactions, labels = world.generate(days)
    dataset = Dataset(transactions=transactions, labels=labels, inputs=ALL_INPUTS, source="simulated demo world")
    with console.status("evaluating: train on the first weeks, test on the last, 7-day gap"):
        evaluation = evaluate(dataset, SplitConfig(test_fraction=0.25, gap_days=7), TrainConfig(), k=20)
    with console.status("training the model on the whole history"):
        model = train_on(dataset, TrainConfig())
        model.save(home / "models" / "demo")
    return DemoWorld(world, days, transactions, labels, model, evaluation.metrics)


def _records(frame: pd.DataFrame) -> list[Transaction]:
    return [
        Transaction.model_validate({k: v for k, v in row.items() if v is not None and v == v})
        for row in frame.to_dict("records")
    ]


def explained_decisions(demo: DemoWorld, per_scenario: int = 1) -> Table:
    """Score the day after the history, live-style, and show flagged frauds with their reasons."""
    scorer = Scorer(demo.model, MemoryState())
    scorer.engine.history(demo.transactions, demo.labels)  # the state a live system would have
    next_day, truth = demo.world.day(demo.days)
    decisions = []
    for start in range(0, len(next_day), 500):
        decisions += scorer.score(_records(next_day.iloc[start : start + 500]))
    by_id = {d.transaction_id: d for d in decisions}
    table = Table(title="Explained decisions on the next day (frauds)", title_justify="left", show_lines=True)
    for column in ("scenario", "amount", "score", "outcome", "top reasons"):
        table.add_column(column, justify="right" if column in ("amount", "score") else "left")
    shown = truth.merge(next_day, on="transaction_id").groupby("scenario").head(per_scenario)
    for row in shown.itertuples():
        decision = by_id[str(row.transaction_id)]
        colour = {Outcome.DECLINE: "red", Outcome.REVIEW: "yellow"}.get(decision.outcome, "green")
        table.add_row(
            str(row.scenario),
            f"{row.amount:,.2f}",
            f"{decision.score:.3f}",
            f"[{colour}]{decision.outcome}[/]",
            "\n".join(f"• {r.text}" for r in decision.reasons),
        )
    return table
