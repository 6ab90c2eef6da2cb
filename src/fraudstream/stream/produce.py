"""Sending transactions and labels to Kafka: simulated traffic or a history file, at a rate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import Producer

from fraudstream.schema import Label, Transaction
from fraudstream.stream.kafka import KafkaSettings

__all__ = ["Produced", "produce_events"]

log = logging.getLogger(__name__)


@dataclass
class Produced:
    transactions: int = 0
    labels: int = 0
    seconds: float = 0.0


def produce_events(
    events: Iterable[Transaction | Label],
    settings: KafkaSettings,
    *,
    limit: int | None = None,
    progress: Callable[[Produced], None] | None = None,
) -> Produced:
    """Transactions keyed by customer id (one customer stays in one partition), labels by transaction id.

    Pacing is the iterable's business (`iter_events(rate=...)`); messages are batched by
    the producer (linger) and all delivered before this returns.
    """
    producer = Producer({"bootstrap.servers": settings.brokers, "linger.ms": 20, "acks": "all", **settings.client})
    done = Produced()
    started = time.monotonic()
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for event in events:
        if isinstance(event, Transaction):
            if limit is not None and done.transactions >= limit:
                break
            topic, key = settings.transactions_topic, event.customer_id
            done.transactions += 1
        else:
            topic, key = settings.labels_topic, event.transaction_id
            done.labels += 1
        while True:
            try:
                producer.produce(topic, value=event.model_dump_json().encode(), key=key.encode(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if progress is not None and (done.transactions + done.labels) % 1_000 == 0:
            done.seconds = time.monotonic() - started
            progress(done)
    remaining = producer.flush(60)
    done.seconds = time.monotonic() - started
    if remaining or failures:
        raise RuntimeError(f"{remaining} messages not delivered; {len(failures)} failed: {failures[:3]}")
    return done
