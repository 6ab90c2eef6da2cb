"""The feature engine: batches of events in, point-in-time features out, state folded.

One engine serves every path: offline histories (training, evaluation, backtests) are
fed through it in large batches, online traffic in small ones. Because the kernel
processes events strictly in order, the features do not depend on how a stream is
cut into batches: offline and online features are identical by construction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.features.definitions import FeatureSet
from fraudstream.features.events import Events
from fraudstream.features.kernel import run_kernel
from fraudstream.features.layout import DAY
from fraudstream.features.raw import N_RAW
from fraudstream.features.state.base import FeatureState, Fold, Workspace
from fraudstream.features.state.memory import MemoryState
from fraudstream.pending import Pending

__all__ = ["FeatureEngine", "history_events"]

FloatMatrix = npt.NDArray[np.float64]


class FeatureEngine:
    """Point-in-time features over a `FeatureState` (in memory unless given another)."""

    def __init__(self, features: FeatureSet, state: FeatureState | None = None) -> None:
        self.features = features
        self.state: FeatureState = state if state is not None else MemoryState()

    def warm_up(self) -> None:
        """Load the compiled kernel now rather than on the first transaction (~0.1 s)."""
        empty = Events.from_transactions([], self.features.extras)
        run_kernel(
            empty.ts_ms, empty.is_label, empty.is_label, empty.amount, empty.latitude, empty.longitude,
            empty.label_fraud, empty.labelled_ts_ms, (empty.ts_ms,) * 4, (np.empty((0, 1)),) * 4,
            (empty.amount,) * 3, 0, np.empty((0, N_RAW)),
        )  # fmt: skip

    def prepare(self, events: Events, ahead: Workspace | None = None) -> tuple[FloatMatrix, Workspace]:
        """Raw aggregates of every event (before it) and the batch's folded, uncommitted state.

        `ahead`: a staged batch whose fold is not applied yet, which comes before this one.
        """
        workspace = self.state.begin(events, ahead)
        out = np.full((len(events), N_RAW), np.nan)
        run_kernel(
            events.ts_ms,
            events.is_label,
            workspace.fold,
            events.amount,
            events.latitude,
            events.longitude,
            events.label_fraud,
            events.labelled_ts_ms,
            workspace.rows,
            workspace.states,
            events.item_keys(),
            round(self.features.label_delay_days * DAY),
            out,
        )
        return out, workspace

    def commit(self, workspace: Workspace) -> Pending[None]:
        return self.state.commit(workspace)

    def stage(self, workspace: Workspace) -> Fold:
        return self.state.stage(workspace)

    def compute(self, raw: FloatMatrix, events: Events) -> FloatMatrix:
        """Features of the batch's transactions, in order, from its raw aggregates."""
        if events.is_label.any():
            transactions = np.flatnonzero(~events.is_label)
            return self.features.compute(raw[transactions], events.take(transactions))
        return self.features.compute(raw, events)

    def process(self, events: Events) -> FloatMatrix:
        """Features of the batch's transactions, in order; the batch is folded and committed."""
        raw, workspace = self.prepare(events)
        self.commit(workspace).wait()
        return self.compute(raw, events)

    def history(
        self, transactions: pd.DataFrame, labels: pd.DataFrame | None = None, batch: int = 250_000
    ) -> FloatMatrix:
        """Features of every transaction of a history, in the frame's row order.

        Transactions and labels are replayed in event-time order: a transaction at its
        timestamp, a label at its `reported_at`; at equal times transactions go first,
        so a label is seen only by transactions strictly after it was reported.
        """
        events, order = history_events(transactions, labels, self.features.extras)
        out = np.empty((len(transactions), len(self.features.names)))
        position = order[~events.is_label]  # row of each transaction, in processing order
        done = 0
        for start in range(0, len(events), batch):
            part = events.take(np.arange(start, min(start + batch, len(events))))
            features = self.process(part)
            out[position[done : done + len(features)]] = features
            done += len(features)
        return out


def history_events(
    transactions: pd.DataFrame, labels: pd.DataFrame | None, extras: tuple[str, ...] = ()
) -> tuple[Events, npt.NDArray[np.intp]]:
    """All events of a history in processing order, and each one's original position.

    Positions below ``len(transactions)`` are transaction rows; labels come after.
    """
    parts = [Events.from_frame(transactions, extras)]
    if labels is not None and len(labels):
        known = [c for c in ("customer_id", "merchant_id", "terminal_id", "device_id") if c in transactions]
        context = transactions[["transaction_id", "timestamp", *known]]
        parts.append(Events.from_label_frame(labels.merge(context, on="transaction_id", how="inner")))
    events = Events.concat(parts) if len(parts) > 1 else parts[0]
    order = np.lexsort((events.is_label, events.ts_ms))
    return events.take(order), order
