"""Commands for Kafka: create the topics, produce transactions and labels."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

import typer

from fraudstream.cli.app import app, console, err, user_errors
from fraudstream.config import Settings
from fraudstream.io import read_frame
from fraudstream.simulate import World, WorldConfig, iter_events


@app.command()
def topics(
    brokers: Annotated[
        str, typer.Option("--brokers", envvar="FRAUDSTREAM_KAFKA_BROKERS", help="Kafka bootstrap servers.")
    ],
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the transactions and decisions topics.")] = 12,
    replication: Annotated[int, typer.Option(min=1, help="Replication factor.")] = 1,
) -> None:
    """Create fraudstream's Kafka topics (transactions, labels, decisions, dead letters) if missing."""
    from fraudstream.stream.kafka import KafkaSettings, ensure_topics

    kafka = KafkaSettings.from_settings(Settings(), brokers)
    with user_errors():
        for topic, what in ensure_topics(kafka, partitions, replication).items():
            console.print(f"{topic}: {what}")


@app.command()
def produce(
    brokers: Annotated[
        str, typer.Option("--brokers", envvar="FRAUDSTREAM_KAFKA_BROKERS", help="Kafka bootstrap servers.")
    ],
    from_file: Annotated[
        Path | None, typer.Option("--from", help="A history in fraudstream's columns (e.g. from `simulate`).")
    ] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Its labels, sent when they were reported.")] = None,
    simulate_world: Annotated[bool, typer.Option("--simulate", help="Send a simulated world's traffic.")] = False,
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers.")] = 5_000,
    merchants: Annotated[int, typer.Option(min=1, help="Simulated merchants.")] = 500,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated world.")] = 0,
    rate: Annotated[float, typer.Option(min=0.0, help="Events per second (0: as fast as possible).")] = 100.0,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many transactions.")] = None,
    topic: Annotated[str, typer.Option("--topic", help="Topic of the transactions.")] = "transactions",
    labels_topic: Annotated[str, typer.Option("--labels-topic", help="Topic of the labels.")] = "labels",
) -> None:
    """Send transactions (keyed by customer id) and labels to Kafka."""
    from fraudstream.simulate.stream import events_from_frames, paced
    from fraudstream.stream.kafka import KafkaSettings
    from fraudstream.stream.produce import produce_events

    if simulate_world == (from_file is not None):
        raise typer.BadParameter("give either --simulate or --from PATH", param_hint="--simulate / --from")
    settings = KafkaSettings(brokers=brokers, transactions_topic=topic, labels_topic=labels_topic)
    with user_errors():
        if from_file is not None:
            history = read_frame(from_file)
            label_frame = read_frame(labels) if labels else None
            events = paced(events_from_frames(history, label_frame), rate or None, time.monotonic, time.sleep)
        else:
            # Ids of their own: a second run of the same world would otherwise be taken
            # for replays of the first, and nothing new decided.
            run = f"{secrets.token_hex(3)}-"
            world = World(WorldConfig(customers=customers, merchants=merchants, seed=seed, id_prefix=run))
            events = iter_events(world, rate=rate or None)
            err.print(f"simulated transaction ids start with {run}")
        with err.status("producing") as status:
            done = produce_events(
                events,
                settings,
                limit=count,
                progress=lambda p: status.update(f"produced {p.transactions:,} transactions, {p.labels:,} labels"),
            )
    console.print(
        f"produced {done.transactions:,} transactions and {done.labels:,} labels to {brokers} "
        f"in {done.seconds:.1f} s ({(done.transactions + done.labels) / max(done.seconds, 1e-9):,.0f}/s)"
    )


# -- data options shared by train and evaluate ----------------------------------------
