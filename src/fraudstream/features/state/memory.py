"""In-process feature state: numpy matrices that grow as entities appear.

A batch works on a copy of its rows, written back on commit: a batch that fails before
its commit (a database down, say) leaves the state as it was, ready for the retry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.features.events import Events
from fraudstream.features.layout import DAY, empty_rows
from fraudstream.features.state.base import ENTITY_KINDS, FeatureState, Fold, Workspace, first_occurrences
from fraudstream.pending import DONE, Pending

__all__ = ["MemoryState"]

# Idempotence keys are kept as long as the longest window, and a little more.
SEEN_RETENTION_MS = 31 * DAY


class _Table:
    """Entity id -> row of a growing matrix."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.index: dict[str, int] = {}
        self.matrix = empty_rows(layout, 1024)

    def rows(self, ids: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
        if len(ids) > 256:  # factorise big batches, so the dict sees each entity once
            codes, uniques = pd.factorize(ids, use_na_sentinel=True)
            out = np.append(self._lookup(uniques), -1)[codes]  # code -1 (no id) -> row -1
        else:
            out = self._lookup(ids)
        if len(self.index) > len(self.matrix):
            grow = max(len(self.index) - len(self.matrix), len(self.matrix))
            self.matrix = np.vstack([self.matrix, empty_rows(self.layout, grow)])
        return out

    def _lookup(self, ids: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
        index = self.index
        out = np.empty(len(ids), dtype=np.int64)
        for i, entity in enumerate(ids):
            if entity is None:
                out[i] = -1
                continue
            row = index.get(entity)
            if row is None:
                row = index[entity] = len(index)
            out[i] = row
        return out

    def row_of(self, entity: str) -> npt.NDArray[np.float64] | None:
        row = self.index.get(entity)
        return None if row is None else self.matrix[row]


def _localise(global_rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(distinct state rows of a batch, each event's position among them; -1 stays -1)."""
    if len(global_rows) <= 64:  # np.unique's overhead dominates small batches
        positions: dict[int, int] = {}
        local = [-1 if r < 0 else positions.setdefault(r, len(positions)) for r in global_rows.tolist()]
        return np.fromiter(positions, np.int64, len(positions)), np.array(local, dtype=np.int64)
    present = global_rows >= 0
    source, inverse = np.unique(global_rows[present], return_inverse=True)
    local_rows = np.full(len(global_rows), -1, dtype=np.int64)
    local_rows[present] = inverse
    return source, local_rows


@dataclass
class MemoryWorkspace(Workspace):
    sources: tuple[npt.NDArray[np.int64], ...] = ()  # the state rows the workspace rows came from


@dataclass(frozen=True)
class _MemoryFold:
    state: MemoryState
    workspace: Workspace

    def apply(self) -> Pending[None]:
        return self.state.apply(self.workspace)


class MemoryState(FeatureState):
    """Feature state of one process; lost when it exits (use Redis to share or keep it)."""

    def __init__(self) -> None:
        self.tables = {kind: _Table(layout) for kind, layout in ENTITY_KINDS}
        self._seen: dict[int, int] = {}  # idempotence key -> event time (ms)
        self._newest_ms = -(2**62)
        self._pruned_at = len(self._seen)

    def begin(self, events: Events, ahead: Workspace | None = None) -> Workspace:
        assert ahead is None or isinstance(ahead, MemoryWorkspace), "a workspace from another state backend"
        keys = events.event_keys()
        fold = first_occurrences(keys)
        seen = self._seen
        folded_ahead = set() if ahead is None else set(ahead.keys[ahead.fold].tolist())
        for i, key in enumerate(keys.tolist()):
            if fold[i] and (key in seen or key in folded_ahead):
                fold[i] = False
        rows, states, sources = [], [], []
        for k, ((kind, _), ids) in enumerate(zip(ENTITY_KINDS, events.entities(), strict=True)):
            table = self.tables[kind]
            # Work on a copy of the batch's rows: the state changes only on commit.
            source, local_rows = _localise(table.rows(ids))
            state = table.matrix[source]
            if ahead is not None:  # rows the batch ahead folded, as it folded them
                position = {row: j for j, row in enumerate(ahead.sources[k].tolist())}
                for i, row in enumerate(source.tolist()):
                    j = position.get(row)
                    if j is not None:
                        state[i] = ahead.states[k][j]
            rows.append(local_rows)
            states.append(state)
            sources.append(source)
        return MemoryWorkspace(
            states=tuple(states),  # type: ignore[arg-type]
            rows=tuple(rows),  # type: ignore[arg-type]
            fold=fold,
            keys=keys,
            ts_ms=events.ts_ms,
            sources=tuple(sources),
        )

    def stage(self, workspace: Workspace) -> Fold:
        return _MemoryFold(self, workspace)

    def apply(self, workspace: Workspace) -> Pending[None]:
        assert isinstance(workspace, MemoryWorkspace), "a workspace from another state backend"
        for (kind, _), local, source in zip(ENTITY_KINDS, workspace.states, workspace.sources, strict=True):
            self.tables[kind].matrix[source] = local
        folded = np.flatnonzero(workspace.fold)
        for key, when in zip(workspace.keys[folded].tolist(), workspace.ts_ms[folded].tolist(), strict=True):
            self._seen[key] = when
        if len(folded):
            self._newest_ms = max(self._newest_ms, int(workspace.ts_ms[folded].max()))
        if len(self._seen) > 2 * self._pruned_at + 100_000:
            self._prune()
        return DONE

    def _prune(self) -> None:
        horizon = self._newest_ms - SEEN_RETENTION_MS
        self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
        self._pruned_at = len(self._seen)

    def row(self, kind: str, entity: str) -> npt.NDArray[np.float64] | None:
        """The state row of one entity (a copy), for inspection and tests."""
        row = self.tables[kind].row_of(entity)
        return None if row is None else row.copy()
