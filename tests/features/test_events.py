"""Events from wire transactions equal the same transactions read from a frame."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from fraudstream.features import Events
from fraudstream.schema import Transaction


def transactions() -> list[Transaction]:
    common = {"currency": "EUR", "merchant_category": "grocery"}
    return [
        Transaction.model_validate(
            {
                "transaction_id": "t1", "timestamp": "2026-03-01T12:00:00.123456+01:00", "customer_id": "c1",
                "amount": 12.5, "merchant_id": "m1", "channel": "online", "terminal_id": "k1", "device_id": "d1",
                "latitude": -0.0, "longitude": 2.35, "extra": {"V1": -1.5}, **common,
            }
        ),
        Transaction.model_validate(
            {
                "transaction_id": "t2", "timestamp": "2026-03-01T12:00:01Z", "customer_id": "c2",
                "amount": 0.0, "merchant_id": "m2", "channel": "card_present", **common,
            }
        ),
    ]  # fmt: skip


def test_from_transactions_equals_from_frame() -> None:
    txs = transactions()
    frame = pd.DataFrame([{**tx.model_dump(exclude={"extra"}), **tx.extra} for tx in txs])
    frame["channel"] = frame["channel"].map(str)
    got = Events.from_transactions(txs, extras=["V1"])
    expected = Events.from_frame(frame, extras=["V1"])
    for f in fields(Events):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        if f.name == "extras":
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
        elif a.dtype == object:
            assert a.tolist() == b.tolist(), f.name
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f.name
    assert np.signbit(got.latitude[0]) and np.isnan(got.latitude[1])
    assert got.channel.tolist() == ["online", "card_present"] and type(got.channel[0]) is str


def test_no_transactions() -> None:
    events = Events.from_transactions([], extras=["V1"])
    assert len(events) == 0 and events.ts_ms.dtype == np.int64 and events.extras["V1"].shape == (0,)
