"""A batch's changes to a row as operations, for a merge with rows others wrote meanwhile."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudstream.features.layout import RowSpec

__all__ = ["LAST", "RING", "TABLE", "row_operations"]

FloatMatrix = npt.NDArray[np.float64]
RING, LAST, TABLE = 1.0, 2.0, 3.0


def _same(a: FloatMatrix, b: FloatMatrix) -> npt.NDArray[np.bool_]:
    return np.asarray((a == b) | (np.isnan(a) & np.isnan(b)), dtype=bool)


def row_operations(spec: RowSpec, before: FloatMatrix, after: FloatMatrix) -> list[bytes | None]:
    """What a batch did to each row, as merge operations for the Lua script (None: nothing)."""
    m = len(after)
    blocks: list[tuple[npt.NDArray[np.intp], FloatMatrix]] = []  # (entity of each record, records)
    if spec.last:
        entity = np.flatnonzero(~_same(before[:, :4], after[:, :4]).all(axis=1))
        header = np.tile([LAST, 0.0, 4.0], (len(entity), 1))
        blocks.append((entity, np.hstack([header, after[entity, :4]])))
    for ring in spec.rings:
        end = ring.offset + ring.slots * ring.stride
        old = before[:, ring.offset : end].reshape(m, ring.slots, ring.stride)
        new = after[:, ring.offset : end].reshape(m, ring.slots, ring.stride)
        entity, slot = np.nonzero(~_same(old, new).all(axis=2))
        header = np.column_stack(
            [
                np.full(len(entity), RING),
                ring.offset + slot * ring.stride,
                np.full(len(entity), ring.stride),
                np.full(len(entity), ring.max_cell),
            ]
        )
        # The slot as read and as written: the script writes it as is if nobody else
        # wrote it meanwhile (exact), and merges what the batch added if somebody did.
        blocks.append((entity, np.hstack([header, old[entity, slot], new[entity, slot]])))
    for table in spec.tables:
        end = table.offset + 2 * table.slots
        old = before[:, table.offset : end].reshape(m, table.slots, 2)
        new = after[:, table.offset : end].reshape(m, table.slots, 2)
        entity, cell = np.nonzero(~_same(old, new).all(axis=2) & ~np.isnan(new[..., 0]))
        header = np.tile([TABLE, float(table.offset), float(table.slots)], (len(entity), 1))
        blocks.append((entity, np.hstack([header, new[entity, cell]])))
    # Records of every block, grouped by entity: one byte string per entity.
    parts: list[list[bytes]] = [[] for _ in range(m)]
    for entity, records in blocks:
        if not len(entity):
            continue
        raw = np.ascontiguousarray(records, dtype="<f8").tobytes()
        size = records.shape[1] * 8
        for i, e in enumerate(entity.tolist()):
            parts[e].append(raw[i * size : (i + 1) * size])
    return [b"".join(p) if p else None for p in parts]


#: Merges in a row that found no other worker's writes before shared rows go without
#: their merge operations again. Two workers on the same merchants see a clean merge now
#: and then between conflicts; dropping the operations after each one sent a merge in
#: five again (a round trip).
