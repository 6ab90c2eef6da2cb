"""Events as columns: what the feature engine consumes, from frames or wire objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property
from operator import attrgetter, itemgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.schema import Label, Transaction

__all__ = ["Events"]

ObjectArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A label's idempotence key differs from its transaction's; a fraud label's from a
# "legitimate" one, so that a fraud confirmed after a first "legitimate" still counts.
_FRAUD_LABEL_SALT = np.uint64(0x9E3779B97F4A7C15)
_LEGIT_LABEL_SALT = np.uint64(0xC2B2AE3D27D4EB4F)
_KEY_MASK = np.uint64((1 << 52) - 1)  # item keys must be exact in a float64


def _hash(values: ObjectArray) -> npt.NDArray[np.uint64]:
    """Stable 64-bit hashes (the same in every process, unlike hash())."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    return np.asarray(pd.util.hash_array(values, categorize=False), dtype=np.uint64)


def _object(values: Sequence[object] | pd.Series) -> ObjectArray:
    """Object array with None for every kind of missing value (NaN, pd.NA, None)."""
    array: ObjectArray = np.array(values, dtype=object)
    array[pd.isna(array)] = None
    return array


def _ids(values: Sequence[str | None]) -> ObjectArray:
    """Object array from wire values, which are str or None already."""
    array: ObjectArray = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _ms(values: pd.Series) -> IntArray:
    return np.asarray(pd.to_datetime(values, utc=True).astype("datetime64[ms, UTC]").astype("int64"), dtype=np.int64)


_FIELDS: Final = (
    "timestamp", "transaction_id", "amount", "latitude", "longitude", "customer_id", "merchant_id",
    "terminal_id", "device_id", "channel", "merchant_category", "extra",
)  # fmt: skip
_PICK: Final = itemgetter(*_FIELDS)
_NO_FIELDS: Final[dict[str, tuple[Any, ...]]] = dict.fromkeys(_FIELDS, ())


@dataclass
class Events:
    """Transactions and labels in processing order.

    For a label, `ts_ms` is when it was reported (its place in the event order) and
    `labelled_ts_ms` the time of the transaction it labels; entity columns are that
    transaction's.
    """

    ts_ms: IntArray
    is_label: npt.NDArray[np.bool_]
    event_id: ObjectArray
    amount: FloatArray
    latitude: FloatArray
    longitude: FloatArray
    customer: ObjectArray
    merchant: ObjectArray
    terminal: ObjectArray
    device: ObjectArray
    label_fraud: npt.NDArray[np.bool_]
    labelled_ts_ms: IntArray
    channel: ObjectArray
    category: ObjectArray
    extras: dict[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ts_ms)

    def entities(self) -> tuple[ObjectArray, ObjectArray, ObjectArray, ObjectArray]:
        """Entity ids in the kernel's order: customer, merchant, terminal, device."""
        return self.customer, self.merchant, self.terminal, self.device

    def present(self) -> dict[str, npt.NDArray[np.bool_]]:
        """Per input a single payment may lack, which events have it."""
        return {
            "customer": self.customer != None,  # noqa: E711 - element-wise on an object array
            "merchant": self.merchant != None,  # noqa: E711
            "terminal": self.terminal != None,  # noqa: E711
            "device": self.device != None,  # noqa: E711
            "location": ~np.isnan(self.latitude),
        }

    def event_keys(self) -> npt.NDArray[np.uint64]:
        """Idempotence keys: one per transaction id, another per label's transaction id."""
        return self._keys[0]

    def item_keys(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Table keys of the (merchant, device, customer) ids, NaN where missing."""
        return self._keys[1]

    @cached_property
    def _keys(self) -> tuple[npt.NDArray[np.uint64], tuple[FloatArray, FloatArray, FloatArray]]:
        # One hashing call for everything: per-call overhead dominates small batches.
        n = len(self)
        ids = np.concatenate([self.event_id, self.merchant, self.device, self.customer])
        missing = ids == None  # noqa: E711 - element-wise on an object array
        hashed = _hash(np.where(missing, "", ids).astype(object))
        keys = hashed[:n]
        salt = np.where(self.label_fraud, _FRAUD_LABEL_SALT, _LEGIT_LABEL_SALT)
        event_keys = np.where(self.is_label, keys ^ salt, keys)
        items = (hashed[n:] & _KEY_MASK).astype(np.float64)
        items[missing[n:]] = np.nan
        merchant, device, customer = np.split(items, 3)
        return event_keys, (merchant, device, customer)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, extras: Sequence[str] = ()) -> Events:
        """Transactions from a frame with canonical columns (optional ones may be absent)."""
        n = len(frame)

        def column(name: str) -> ObjectArray:
            return _object(frame[name]) if name in frame else np.full(n, None, dtype=object)

        def number(name: str) -> FloatArray:
            if name not in frame:
                return np.full(n, np.nan)
            return np.asarray(pd.to_numeric(frame[name], errors="raise"), dtype=np.float64)

        ts = _ms(frame["timestamp"])
        return cls(
            ts_ms=ts,
            is_label=np.zeros(n, dtype=bool),
            event_id=column("transaction_id"),
            amount=number("amount"),
            latitude=number("latitude"),
            longitude=number("longitude"),
            customer=column("customer_id"),
            merchant=column("merchant_id"),
            terminal=column("terminal_id"),
            device=column("device_id"),
            label_fraud=np.zeros(n, dtype=bool),
            labelled_ts_ms=ts,
            channel=column("channel"),
            category=column("merchant_category"),
            extras={name: number(name) for name in extras},
        )

    @classmethod
    def from_transactions(cls, transactions: Sequence[Transaction], extras: Sequence[str] = ()) -> Events:
        n = len(transactions)
        # Every field at once, transposed in C from each model's __dict__, rather than an
        # attribute lookup per value and field.
        columns = _NO_FIELDS
        if n:
            columns = dict(zip(_FIELDS, zip(*map(_PICK, map(vars, transactions)), strict=True), strict=True))
        ts = (np.fromiter(map(datetime.timestamp, columns["timestamp"]), np.float64, n) * 1000).astype(np.int64)
        return cls(
            ts_ms=ts,
            is_label=np.zeros(n, dtype=bool),
            event_id=_ids(columns["transaction_id"]),
            amount=np.array(columns["amount"], dtype=np.float64),
            latitude=np.array(columns["latitude"], dtype=np.float64),  # None is NaN
            longitude=np.array(columns["longitude"], dtype=np.float64),
            customer=_ids(columns["customer_id"]),
            merchant=_ids(columns["merchant_id"]),
            terminal=_ids(columns["terminal_id"]),
            device=_ids(columns["device_id"]),
            label_fraud=np.zeros(n, dtype=bool),
            labelled_ts_ms=ts,
            channel=_ids(list(map(attrgetter("value"), columns["channel"]))),
            category=_ids(columns["merchant_category"]),
            extras={
                name: np.fromiter((extra.get(name, np.nan) for extra in columns["extra"]), np.float64, n)
                for name in extras
            },
        )

    @classmethod
    def from_labels(cls, labelled: Sequence[tuple[Label, Transaction]]) -> Events:
        """Labels, each with the transaction it labels."""
        return cls.from_label_frame(
            pd.DataFrame(
                {
                    "transaction_id": [label.transaction_id for label, _ in labelled],
                    "is_fraud": [label.is_fraud for label, _ in labelled],
                    "reported_at": pd.to_datetime([label.reported_at for label, _ in labelled], utc=True),
                    "timestamp": pd.to_datetime([tx.timestamp for _, tx in labelled], utc=True),
                    "customer_id": [tx.customer_id for _, tx in labelled],
                    "merchant_id": [tx.merchant_id for _, tx in labelled],
                    "terminal_id": [tx.terminal_id for _, tx in labelled],
                    "device_id": [tx.device_id for _, tx in labelled],
                }
            )
        )

    @classmethod
    def from_label_frame(cls, labels: pd.DataFrame) -> Events:
        """Labels (transaction_id, is_fraud, reported_at) joined with their transactions'
        timestamp, customer_id, merchant_id, terminal_id and device_id (those present)."""
        n = len(labels)

        def column(name: str) -> ObjectArray:
            return _object(labels[name]) if name in labels else np.full(n, None, dtype=object)

        return cls(
            ts_ms=_ms(labels["reported_at"]),
            is_label=np.ones(n, dtype=bool),
            event_id=column("transaction_id"),
            amount=np.full(n, np.nan),
            latitude=np.full(n, np.nan),
            longitude=np.full(n, np.nan),
            customer=column("customer_id"),
            merchant=column("merchant_id"),
            terminal=column("terminal_id"),
            device=column("device_id"),
            label_fraud=np.asarray(labels["is_fraud"], dtype=bool),
            labelled_ts_ms=_ms(labels["timestamp"]),
            channel=np.full(n, None, dtype=object),
            category=np.full(n, None, dtype=object),
        )

    def take(self, index: npt.NDArray[np.intp]) -> Events:
        columns: dict[str, Any] = {k: getattr(self, k)[index] for k in _COLUMNS}
        return Events(**columns, extras={k: v[index] for k, v in self.extras.items()})

    @staticmethod
    def concat(parts: Sequence[Events]) -> Events:
        extras = sorted({k for p in parts for k in p.extras})

        def extra(p: Events, k: str) -> FloatArray:
            return p.extras.get(k, np.full(len(p), np.nan))

        columns: dict[str, Any] = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _COLUMNS}
        return Events(**columns, extras={k: np.concatenate([extra(p, k) for p in parts]) for k in extras})


_COLUMNS = tuple(f.name for f in fields(Events) if f.name != "extras")
