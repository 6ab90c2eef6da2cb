"""The zero-infrastructure demo: simulate, evaluate, train, then run the live system on the world.

1. Simulate `days` of history of a world (ending today), evaluate a model the way
   fraud teams do (time split, 7-day gap), train the final model (reused next time).
2. Warm the feature state with the history, as a live system would have it, with only
   the labels reported by now; the later ones arrive during the stream.
3. Start the API and dashboard, and stream the world's next days through the
   in-process transport at `rate` events per second until Ctrl-C.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from fraudstream.config import Settings
from fraudstream.features import MemoryState
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model, ModelLoadError
from fraudstream.model.evaluate import evaluate, train_on
from fraudstream.model.split import SplitConfig
from fraudstream.model.train import TrainConfig
from fraudstream.runtime import build_runtime
from fraudstream.schema import Label, Transaction
from fraudstream.server import Server
from fraudstream.simulate import World, WorldConfig, iter_events
from fraudstream.stream import LABELS, MemorySource
from fraudstream.terminal import working

__all__ = ["DemoWorld", "prepare", "run_live"]

log = logging.getLogger(__name__)

#: Ten years: the demo's stream may run that far ahead of the clock.
DEMO_FUTURE_HOURS = 24 * 365 * 10
DEMO_RULES = Path(__file__).parent / "rules" / "demo.yaml"
ALL_INPUTS = frozenset({"customer", "merchant", "terminal", "device", "location", "channel", "category"})


@dataclass
class DemoWorld:
    world: World
    days: int
    transactions: pd.DataFrame
    labels: pd.DataFrame
    model: Model
    metrics: dict[str, Any]
    reused_model: bool = False
    live_start: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.live_start = self.world.config.start + timedelta(days=self.days)


def prepare(home: Path, customers: int, days: int, seed: int, console: Console) -> DemoWorld:
    """Simulate the history; evaluate and train a model unless one for this world exists."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = WorldConfig(
        customers=customers, merchants=max(20, customers // 10), seed=seed, start=today - timedelta(days=days)
    )
    world = World(config)
    with working(console, f"simulating {days} days of {customers:,} customers"):
        transactions, labels = world.generate(days)
    signature = {"customers": customers, "merchants": config.merchants, "seed": seed, "days": days}
    model_dir = home / "models" / "demo"
    try:
        existing = Model.load(model_dir)
        if existing.info.get("demo_world") == signature:
            return DemoWorld(
                world, days, transactions, labels, existing, existing.info["evaluation"], reused_model=True
            )
    except ModelLoadError:
        pass
    dataset = Dataset(transactions=transactions, labels=labels, inputs=ALL_INPUTS, source="simulated demo world")
    with working(console, "evaluating: train on the first weeks, 7-day gap, test on the last ones"):
        evaluation = evaluate(dataset, SplitConfig(test_fraction=0.25, gap_days=7), TrainConfig(), k=20)
    with working(console, "training the model on the whole history"):
        model = train_on(dataset, TrainConfig())
    model.info.update(demo_world=signature, evaluation=evaluation.metrics)
    model.save(model_dir)
    return DemoWorld(world, days, transactions, labels, model, evaluation.metrics)


def _feed(demo: DemoWorld, source: MemorySource, rate: float, late: list[Label], stop: threading.Event) -> None:
    """The world's next days, in event-time order, with the history's late labels in between."""
    late = sorted(late, key=lambda label: label.reported_at)
    for event in iter_events(demo.world, first_day=demo.days, rate=rate):
        if stop.is_set():
            return
        if isinstance(event, Transaction):
            while late and late[0].reported_at < event.timestamp:
                source.put(late.pop(0).model_dump_json(), topic=LABELS)
            source.put(event.model_dump_json())
        else:
            source.put(event.model_dump_json(), topic=LABELS)


def _summary(server: Server) -> Group:
    service = server.runtime.service
    stats = service.stats.snapshot()
    counters = Table.grid(padding=(0, 3))
    for _ in range(7):
        counters.add_column(justify="right")
    totals = stats["totals"]
    counters.add_row("events/s", "decisions", "approved", "review", "declined", "replayed", "p50 / p99 latency")
    p50, p99 = stats["latency_ms"]["p50"], stats["latency_ms"]["p99"]
    counters.add_row(
        f"[bold]{stats['events_per_s']:.1f}",
        f"[bold]{stats['decisions']:,}",
        f"[green]{totals['approve']:,}",
        f"[yellow]{totals['review']:,}",
        f"[red]{totals['decline']:,}",
        f"{service.metrics.replayed_count():,}",
        f"{p50 or 0:.1f} / {p99 or 0:.1f} ms",
    )
    flagged = service.feed.recent(flagged_only=True)[-5:]
    latest = Table(title="Latest flagged decisions", title_justify="left", expand=True)
    for column in ("customer", "amount", "score", "outcome", "why"):
        latest.add_column(column, overflow="ellipsis", no_wrap=column != "why")
    for e in reversed(flagged):
        colour = "red" if e["outcome"] == "decline" else "yellow"
        why = "; ".join(r["text"] for r in e["reasons"][:2])
        latest.add_row(
            e["customer_id"],
            f"{e['amount']:,.2f} {e['currency']}",
            f"{e['score']:.3f}",
            f"[{colour}]{e['outcome']}",
            why,
        )
    return Group(
        f"[bold]Dashboard[/] {server.url}   [bold]API docs[/] {server.url}/docs   (Ctrl-C to stop)", counters, latest
    )


class _HomeLock:
    """One demo at a time in a home: the next one would delete the running one's database."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self._file = (home / "demo.lock").open("w")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise RuntimeError(
                f"another demo is running with this home ({home}): stop it, or set FRAUDSTREAM_HOME to another folder"
            ) from None

    def __enter__(self) -> _HomeLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()  # closing the file releases the lock


def hold_home(home: Path) -> _HomeLock:
    """Hold the demo's home (see `_HomeLock`) until the returned object's block ends."""
    return _HomeLock(home)


def run_live(
    demo: DemoWorld,
    home: Path,
    *,
    host: str,
    port: int,
    rate: float,
    console: Console,
    duration: float | None = None,
) -> Server:
    """Serve the API and dashboard and stream the world live until Ctrl-C (or `duration` s)."""
    for suffix in ("", "-wal", "-shm"):  # each demo run starts with an empty database
        (home / f"fraudstream.db{suffix}").unlink(missing_ok=True)
    # The simulated days run ahead of the clock (a day in about a minute): accept their times.
    settings = Settings(home=home, host=host, port=port, max_future_hours=DEMO_FUTURE_HOURS, rules=DEMO_RULES)
    runtime = build_runtime(settings, model=demo.model, state=MemoryState())
    known_now = demo.labels["reported_at"] < pd.Timestamp(demo.live_start)
    with working(console, "warming the feature state with the history"):
        runtime.service.warm(demo.transactions, demo.labels[known_now])
    late = [Label.model_validate(r) for r in demo.labels[~known_now].drop(columns="scenario").to_dict("records")]
    # The transactions those late chargebacks are about, so that they can be stored.
    late_ids = {label.transaction_id for label in late}
    history = demo.transactions[demo.transactions["transaction_id"].isin(late_ids)]
    runtime.service.store.save_transactions(
        [
            Transaction.model_validate({k: v for k, v in r.items() if v is not None and v == v})
            for r in history.to_dict("records")
        ]
    )
    server = Server(runtime, host, port)
    server.start()
    console.print(f"dashboard and API on {server.url} (Ctrl-C stops)")  # a plain line: logs show it too
    source = runtime.source
    assert isinstance(source, MemorySource)
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(demo, source, rate, late, stop), name="demo-feed", daemon=True)
    feeder.start()
    try:
        with Live(_summary(server), console=console, refresh_per_second=2, transient=False) as live:
            server.serve_until_interrupted(tick=lambda: live.update(_summary(server)), every=0.5, duration=duration)
    finally:
        stop.set()
        feeder.join(5)
    return server
