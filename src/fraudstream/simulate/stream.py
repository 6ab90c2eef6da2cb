"""The simulated world as a stream: transactions and late labels, in event-time order."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pandas as pd

from fraudstream.schema import Label, Transaction
from fraudstream.simulate.world import World

__all__ = ["events_from_frames", "iter_events", "paced"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (pandas gives NaN)."""
    return [{str(k): v for k, v in row.items() if v is not None and v == v} for row in frame.to_dict("records")]


def paced(
    events: Iterator[Transaction | Label],
    rate: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[Transaction | Label]:
    """The events at `rate` per second of wall time (all at once when None)."""
    started = clock()
    for emitted, event in enumerate(events):
        if rate:
            ahead = started + emitted / rate - clock()
            if ahead > 0:
                sleep(ahead)
        yield event


class _Interleaver:
    """Yields transactions in order and each label before the first transaction later than it."""

    def __init__(self) -> None:
        self._pending: list[tuple[datetime, int, Label]] = []
        self._seq = 0

    def add_labels(self, labels: pd.DataFrame) -> None:
        for rec in _records(labels):
            label = Label.model_validate({k: v for k, v in rec.items() if k in Label.model_fields})
            heapq.heappush(self._pending, (label.reported_at, self._seq, label))
            self._seq += 1

    def transactions(self, frame: pd.DataFrame) -> Iterator[Transaction | Label]:
        for rec in _records(frame):
            tx = Transaction.model_validate(rec)
            while self._pending and self._pending[0][0] < tx.timestamp:
                yield heapq.heappop(self._pending)[2]
            yield tx

    def rest(self) -> Iterator[Label]:
        while self._pending:
            yield heapq.heappop(self._pending)[2]


def events_from_frames(transactions: pd.DataFrame, labels: pd.DataFrame | None = None) -> Iterator[Transaction | Label]:
    """A history (fraudstream's columns, in time order) as the event stream it was."""
    merge = _Interleaver()
    if labels is not None:
        merge.add_labels(labels)
    yield from merge.transactions(transactions.sort_values("timestamp", kind="stable"))
    yield from merge.rest()


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

    def generate() -> Iterator[Transaction | Label]:
        merge = _Interleaver()
        day = first_day
        while days is None or day < first_day + days:
            transactions, day_labels = world.day(day)
            if labels:
                merge.add_labels(day_labels)
            yield from merge.transactions(transactions)
            day += 1
        yield from merge.rest()

    return paced(generate(), rate, clock, sleep)
