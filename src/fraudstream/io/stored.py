"""The history the service stored, as a data set: what it decided, with the labels it was given.

Read in one pass per table; a backtest or retraining over the store sees the same
canonical columns as one over a file.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, select

from fraudstream.features.definitions import INPUTS
from fraudstream.io.dataset import TRANSACTION_FIELDS, Dataset
from fraudstream.store import Store
from fraudstream.store.models import LabelRow, TransactionRow

__all__ = ["stored_count", "stored_dataset"]


def stored_count(store: Store, since: datetime) -> int:
    """Transactions stored that were paid at or after `since`."""
    with store.engine.connect() as connection:
        query = select(func.count()).select_from(TransactionRow).where(TransactionRow.timestamp >= since)
        return int(connection.execute(query).scalar_one())


def stored_dataset(store: Store, since: datetime | None = None, until: datetime | None = None) -> Dataset:
    """Transactions paid in [since, until) with every label stored for them."""
    query = select(*(getattr(TransactionRow, c) for c in TRANSACTION_FIELDS), TransactionRow.extra).order_by(
        TransactionRow.timestamp
    )
    if since is not None:
        query = query.where(TransactionRow.timestamp >= since)
    if until is not None:
        query = query.where(TransactionRow.timestamp < until)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
        labels = pd.DataFrame(
            connection.execute(select(LabelRow.transaction_id, LabelRow.is_fraud, LabelRow.reported_at)).all(),
            columns=["transaction_id", "is_fraud", "reported_at"],
        )
    frame = pd.DataFrame(rows, columns=[*TRANSACTION_FIELDS, "extra"])
    extras = pd.json_normalize(frame.pop("extra").tolist()) if len(frame) else pd.DataFrame()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for name in TRANSACTION_FIELDS:
        if name not in ("timestamp", "amount", "latitude", "longitude"):
            frame[name] = frame[name].astype("string")
    for name in ("amount", "latitude", "longitude"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    extra_names = [c for c in extras.columns if c not in frame]
    for name in extra_names:
        frame[name] = pd.to_numeric(extras[name], errors="coerce").to_numpy(dtype=float)
    labels = labels[labels["transaction_id"].isin(set(frame["transaction_id"]))].reset_index(drop=True)
    labels["reported_at"] = pd.to_datetime(labels["reported_at"], utc=True)
    labels["transaction_id"] = labels["transaction_id"].astype("string")
    labels["is_fraud"] = labels["is_fraud"].astype(bool)
    return Dataset(
        transactions=frame,
        labels=labels,
        extras=tuple(extra_names),
        # Every input: the service decided these payments with its model whatever they lacked,
        # and a replay computes their features the same way.
        inputs=frozenset(INPUTS),
        source=store.engine.url.render_as_string(hide_password=True),
    )
