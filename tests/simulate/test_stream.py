from __future__ import annotations

import itertools

import pytest

from fraudstream.schema import Label, Transaction
from fraudstream.simulate import World, WorldConfig, iter_events


@pytest.fixture(scope="module")
def small_world() -> World:
    return World(WorldConfig(customers=300, merchants=40, seed=2, fraud_rate=0.05))


def test_events_in_event_time_order_with_late_labels(small_world: World) -> None:
    events = list(iter_events(small_world, days=4))
    transactions = [e for e in events if isinstance(e, Transaction)]
    labels = [e for e in events if isinstance(e, Label)]
    expected_tx, expected_labels = small_world.generate(4)
    assert [t.transaction_id for t in transactions] == expected_tx["transaction_id"].tolist()
    assert len(labels) == len(expected_labels) > 0
    times = [t.timestamp for t in transactions]
    assert times == sorted(times)
    seen: set[str] = set()
    last_tx_time = None
    for event in events:
        if isinstance(event, Transaction):
            seen.add(event.transaction_id)
            last_tx_time = event.timestamp
        else:
            # A label follows its transaction and is never shown to a payment made before it was reported.
            assert event.transaction_id in seen
            assert last_tx_time is not None and event.reported_at >= last_tx_time


def test_label_precedes_later_transactions(small_world: World) -> None:
    events = list(iter_events(small_world, days=4))
    for before, after in itertools.pairwise(events):
        if isinstance(before, Label) and isinstance(after, Transaction):
            assert before.reported_at < after.timestamp


def test_endless_stream_and_pacing(small_world: World) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    stream = iter_events(small_world, rate=100.0, labels=False, clock=lambda: now[0], sleep=sleep)
    first = list(itertools.islice(stream, 3_000))  # about eight days: it keeps going
    assert len(first) == 3_000
    assert now[0] == pytest.approx(2_999 / 100.0)
    assert all(isinstance(e, Transaction) for e in first)
