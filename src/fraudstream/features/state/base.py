"""The protocol every feature-state backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fraudstream.features.events import Events
from fraudstream.pending import DONE, Pending

__all__ = ["ENTITY_KINDS", "NO_FOLD", "FeatureState", "Fold", "Workspace"]


#: Entity kinds in the order the kernel takes them, with the row layout each uses.
ENTITY_KINDS: tuple[tuple[str, str], ...] = (
    ("customer", "customer"),
    ("merchant", "shop"),
    ("terminal", "shop"),
    ("device", "device"),
)

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Workspace:
    """The state rows one batch works on: a matrix per entity kind and each event's row in it.

    The kernel updates the matrices in place; `FeatureState.commit` makes that durable.
    `fold[i]` says whether event i changes state (False for an event seen before).
    """

    states: tuple[FloatMatrix, FloatMatrix, FloatMatrix, FloatMatrix]
    rows: tuple[IntArray, IntArray, IntArray, IntArray]
    fold: npt.NDArray[np.bool_]
    keys: npt.NDArray[np.uint64]
    ts_ms: IntArray


class Fold(Protocol):
    """A batch's fold into the state, worked out but not applied."""

    def apply(self) -> Pending[None]:
        """Apply it: sent (and done, for a local state); the result waits until it is durable."""
        ...


class _NoFold:
    """The fold of a batch that changes nothing."""

    def apply(self) -> Pending[None]:
        return DONE


NO_FOLD: Fold = _NoFold()


class FeatureState(Protocol):
    """Per-entity feature state, accessed a batch at a time.

    `begin` resolves every entity of a batch to a state row (fetching them in one go
    where the state is remote) and says which events were already folded before; given
    `ahead`, the workspace of a batch staged whose fold is not applied yet, it takes that
    batch's rows as folded instead of the stored ones and counts its events as seen, so
    a worker can work the next batch out while the database stores this one;
    `commit` folds the batch, together with its idempotence keys, entirely or not at
    all. A remote state may send the commit and return at once: the next `begin` sees
    it all the same, and the `Pending` it returns waits until it is durable (a stream
    worker waits for it before it commits the batch's offsets). `stage` works the fold
    out without applying it, so that the work can overlap a wait (the decisions' insert).
    """

    def begin(self, events: Events, ahead: Workspace | None = None) -> Workspace: ...

    def stage(self, workspace: Workspace) -> Fold:
        """The batch's fold, worked out; `apply` applies it, as `commit` does."""
        ...

    def commit(self, workspace: Workspace) -> Pending[None]:
        return self.stage(workspace).apply()


def first_occurrences(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """True for the first event with each key within a batch."""
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    return first
