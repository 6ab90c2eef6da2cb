"""The simulated world as a stream: transactions and late labels, in event-time order."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from fraudstream.schema import Label, Transaction
from fraudstream.simulate.world import World

__all__ = ["iter_events"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (pandas gives NaN)."""
    return [{str(k): v for k, v in row.items() if v is not None and v == v} for row in frame.to_dict("records")]


def iter_events(
    world: World,
    *,
    first_day: int = 0,
    days: int | None = None,
    rate: float | None = None,
    labels: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Transaction | Label]:
    """Yield the world's transactions in timestamp order, each label once it is reported.

    A label is yielded before the first transaction that is later than its
    `reported_at`, which is exactly what point-in-time features may see.
    `days=None` streams forever; `rate` paces the stream in events per second of wall
    time (None: as fast as possible).

    >>> from fraudstream.simulate import WorldConfig
    >>> events = iter_events(World(WorldConfig(customers=50, merchants=10)), days=1)
    >>> type(next(events)).__name__
    'Transaction'
    """
    pending: list[tuple[pd.Timestamp, int, Label]] = []
    seq = 0
    started, emitted = clock(), 0

    def paced(event: Transaction | Label) -> Transaction | Label:
        nonlocal emitted
        if rate:
            ahead = started + emitted / rate - clock()
            if ahead > 0:
                sleep(ahead)
        emitted += 1
        return event

    day = first_day
    while days is None or day < first_day + days:
        transactions, day_labels = world.day(day)
        if labels:
            for rec in _records(day_labels):
                label = Label.model_validate(rec)
                heapq.heappush(pending, (pd.Timestamp(label.reported_at), seq, label))
                seq += 1
        for rec in _records(transactions):
            tx = Transaction.model_validate(rec)
            while pending and pending[0][0] < tx.timestamp:
                yield paced(heapq.heappop(pending)[2])
            yield paced(tx)
        day += 1
    while pending:
        yield paced(heapq.heappop(pending)[2])
