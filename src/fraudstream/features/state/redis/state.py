"""Feature state in Redis, shared by every worker: one binary row per entity.

One round trip per batch, whatever its size: `commit` sends the batch's merge (one Lua
script call, atomic) and returns without waiting; the next `begin` sends its reads
behind it on the same connection and reads both replies, so Redis merges batch N while
the worker validates batch N+1, and batch N+1 still reads what N wrote. The `Pending`
that `commit` returns waits for the merge's reply (a worker waits for it before it
commits its offsets). A merge whose reply was lost is sent again: a marker key per merge makes
that a no-op if the first one went through. Each row ends with an 8-byte version, new
on every write.

- A row whose version is still the one read (nobody else wrote it meanwhile, the
  common case) is replaced by the row as computed, so a single writer's state is bit
  for bit the in-memory one. This compare-and-set costs Redis less than the merge
  below, interpreted in Lua (writing only the changed 64-byte chunks cost more: a
  SETRANGE each).
- Otherwise the batch's operations are merged rather than overwritten, so two workers
  that touch the same merchant (customers are partitioned, merchants are not) both
  count: a ring slot that nobody else wrote since it was read is written as computed,
  otherwise the batch's additions to its bucket are added (counts, sums; max by max),
  an older bucket is replaced and a newer one left alone; the customer's "latest
  transaction" keeps the latest; a table keeps, per item, the latest sighting, and the
  most recently seen items.
- The operations go only where they may be needed: with every shared row while recent
  merges found another writer's rows, otherwise with none (customers never). A row
  sent without them can only be replaced; if somebody wrote it meanwhile, the script
  applies nothing and names the rows, and the merge goes again with every row's.

Rows expire after `entity_ttl` without writes (longer than the longest ring), and
idempotence keys after `dedup_ttl` (how long a redelivery can come late). Keys carry
the row layout's version: rows of an older layout are never read, and expire.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from fraudstream.features.events import Events
from fraudstream.features.layout import DAY, K_DAY_SLOTS, LAYOUT_VERSION, SPECS, RowSpec, empty_rows
from fraudstream.features.state.base import ENTITY_KINDS, NO_FOLD, FeatureState, Fold, Workspace, first_occurrences
from fraudstream.features.state.redis.channel import MergeChannel
from fraudstream.features.state.redis.ops import row_operations
from fraudstream.pending import Pending

__all__ = ["RedisState"]

log = logging.getLogger(__name__)

FloatMatrix = npt.NDArray[np.float64]
LAYOUT_CODES = {"customer": b"1", "shop": b"2", "device": b"3"}  # as the script reads them
#: The merge script (KEYS and ARGV: see its head).
MERGE = (Path(__file__).parent / "merge.lua").read_text()

#: The version read from a row stored before rows had versions: it matches none, so such
#: a row is always merged (and gets a version).
UNVERSIONED = b"-"
VERSION_BYTES = 8
#: The operations of a row that changed only in ways a merge ignores (a NaN's bits).
NO_OPERATIONS = b"-"


@dataclass
class RedisWorkspace(Workspace):
    redis_keys: tuple[list[bytes], ...] = ()  # per kind, the key of each workspace row
    originals: tuple[FloatMatrix, ...] = ()  # per kind, the rows as read
    versions: tuple[list[bytes], ...] = ()  # per kind, each row's version as read (b"": none)
    seen_keys: list[bytes] = field(default_factory=list)  # idempotence key of each candidate event
    candidates: npt.NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    # Set by `stage`: per kind, the rows the fold writes, and the version it gives them.
    written: tuple[npt.NDArray[np.intp], ...] = ()
    written_version: bytes = b""

    def staged_rows(self) -> list[dict[bytes, FloatMatrix]]:
        """Per kind, key -> row of each row this batch's staged fold writes (with `written_version`)."""
        assert self.written_version, "the batch ahead is not staged"
        return [
            {keys[i]: states[i] for i in written.tolist()}
            for keys, states, written in zip(self.redis_keys, self.states, self.written, strict=True)
        ]

    def folded_seen_keys(self) -> list[bytes]:
        """The idempotence keys of the events this batch folds (candidates not seen before)."""
        return [self.seen_keys[j] for j in np.flatnonzero(self.fold[self.candidates]).tolist()]


class RedisState(FeatureState):
    """Feature state shared through Redis (redis-py, hiredis when installed)."""

    def __init__(
        self,
        client: redis.Redis | str,
        prefix: str = "fs",
        dedup_ttl_s: float = 7 * 86_400,
        entity_ttl_s: float = (K_DAY_SLOTS + 6) * 86_400,
    ) -> None:
        self.client = redis.Redis.from_url(client) if isinstance(client, str) else client
        self.prefix = prefix
        self.dedup_ttl_ms = int(dedup_ttl_s * 1000)
        self.entity_ttl_ms = int(entity_ttl_s * 1000)
        if self.entity_ttl_ms <= K_DAY_SLOTS * DAY:
            raise ValueError(f"entity_ttl_s must outlast the longest ring ({K_DAY_SLOTS} days)")
        self._sha = self.client.script_load(MERGE)
        self._channel = MergeChannel(self.client, lambda: self.client.script_load(MERGE))
        self._templates = [
            empty_rows(layout, 1)[0].astype("<f8").tobytes() for layout in ("customer", "shop", "device")
        ]

    def _key(self, kind: str, entity: str) -> bytes:
        return f"{self.prefix}:{kind}{LAYOUT_VERSION}:{entity}".encode()

    def _seen_key(self, key: int) -> bytes:
        return f"{self.prefix}:seen:{key:016x}".encode()

    def begin(self, events: Events, ahead: Workspace | None = None) -> Workspace:
        assert ahead is None or isinstance(ahead, RedisWorkspace), "a workspace from another state backend"
        keys = events.event_keys()
        fold = first_occurrences(keys)
        candidates = np.flatnonzero(fold)
        per_kind: list[tuple[list[str], npt.NDArray[np.int64]]] = []
        for ids in events.entities():
            positions: dict[str, int] = {}
            local = np.array(
                [-1 if entity is None else positions.setdefault(entity, len(positions)) for entity in ids.tolist()],
                dtype=np.int64,
            )
            per_kind.append((list(positions), local))
        redis_keys = [
            [self._key(kind, e) for e in entities]
            for (kind, _), (entities, _) in zip(ENTITY_KINDS, per_kind, strict=True)
        ]
        seen_keys = [self._seen_key(k) for k in keys[candidates].tolist()]
        # The batch ahead's fold is not in Redis yet (it goes after this read): its rows
        # come from its workspace, as written, and its events count as seen.
        staged: list[dict[bytes, FloatMatrix]] = [{}, {}, {}, {}]
        folded_ahead: set[bytes] = set()
        staged_version = b""
        if ahead is not None:
            staged, folded_ahead = ahead.staged_rows(), set(ahead.folded_seen_keys())
            staged_version = ahead.written_version
        fetch = [[k for k in kind_keys if k not in held] for kind_keys, held in zip(redis_keys, staged, strict=True)]
        reads = [("MGET", *(seen_keys or [b"-"]))]
        reads += [("MGET", *(entity_keys or [b"-"])) for entity_keys in fetch]
        seen, *blobs = self._channel.round_trip(reads)
        if len(candidates):
            fold[candidates[[v is not None or k in folded_ahead for v, k in zip(seen, seen_keys, strict=True)]]] = False
        states: list[FloatMatrix] = []
        rows: list[npt.NDArray[np.int64]] = []
        originals: list[FloatMatrix] = []
        versions: list[list[bytes]] = []
        for (_, layout), (entities, local), entity_keys, ahead_rows, fetched in zip(
            ENTITY_KINDS, per_kind, redis_keys, staged, blobs, strict=True
        ):
            if not ahead_rows:
                matrix, read = _parse_rows(layout, fetched[: len(entities)])
            else:
                replies = iter(fetched)
                matrix, read = _parse_rows(layout, [None if k in ahead_rows else next(replies) for k in entity_keys])
                for i, k in enumerate(entity_keys):
                    if k in ahead_rows:
                        matrix[i], read[i] = ahead_rows[k], staged_version
            states.append(matrix)
            originals.append(matrix.copy())
            rows.append(local)
            versions.append(read)
        return RedisWorkspace(
            states=tuple(states),  # type: ignore[arg-type]
            rows=tuple(rows),  # type: ignore[arg-type]
            fold=fold,
            keys=keys,
            ts_ms=events.ts_ms,
            redis_keys=tuple(redis_keys),
            seen_keys=seen_keys,
            candidates=candidates,
            originals=tuple(originals),
            versions=tuple(versions),
        )

    def stage(self, workspace: Workspace) -> Fold:
        assert isinstance(workspace, RedisWorkspace), "a workspace from another state backend"
        version = os.urandom(VERSION_BYTES)
        written: list[npt.NDArray[np.intp]] = []
        entity_keys: list[bytes] = []
        per_entity: list[Any] = []  # layout code, version read, row, operations: per entity
        deferred: list[tuple[int, RowSpec, FloatMatrix, FloatMatrix, npt.NDArray[np.intp]]] = []
        for (_, layout), keys, read, before, after in zip(
            ENTITY_KINDS, workspace.redis_keys, workspace.versions, workspace.originals, workspace.states, strict=True
        ):
            spec = SPECS[layout]
            bits = np.ascontiguousarray(before).view(np.uint64), np.ascontiguousarray(after).view(np.uint64)
            changed = np.flatnonzero((bits[0] != bits[1]).any(axis=1))
            written.append(changed)
            # Operations are needed only for rows somebody else wrote since they were read,
            # and working them out is a noticeable part of a worker's time. Customers (one worker
            # owns each) go without them, and so do shared rows while no other worker
            # writes them: a conflict sends the merge again, with operations for every
            # row, and from then on shared rows go with theirs while others write too.
            upfront = layout != "customer" and self._channel.contended
            ops = row_operations(spec, before[changed], after[changed]) if upfront else None
            if ops is None:
                deferred.append((len(per_entity) + 3, spec, before, after, changed))
            code = LAYOUT_CODES[layout]
            rows = _with_version(after[changed], version)
            for j, i in enumerate(changed.tolist()):
                entity_keys.append(keys[i])
                per_entity += (code, read[i], rows[j], b"" if ops is None else ops[j] or NO_OPERATIONS)
        workspace.written, workspace.written_version = tuple(written), version
        seen = workspace.folded_seen_keys()
        if not entity_keys and not seen:
            return NO_FOLD
        marker = f"{self.prefix}:merged:{version.hex()}".encode()
        head = ("EVALSHA", self._sha, len(entity_keys) + len(seen) + 1, *entity_keys, *seen, marker)
        merged_version = os.urandom(VERSION_BYTES)
        head += (len(entity_keys), self.entity_ttl_ms, self.dedup_ttl_ms, *self._templates, merged_version)

        def with_all_operations() -> tuple[Any, ...]:
            full = list(per_entity)
            for first, spec, before, after, changed in deferred:
                for j, ops in enumerate(row_operations(spec, before[changed], after[changed])):
                    full[first + 4 * j] = ops or NO_OPERATIONS
            return (*head, *full)

        return _Merge(self._channel, (*head, *per_entity), with_all_operations)

    def row(self, kind: str, entity: str) -> npt.NDArray[np.float64] | None:
        """The stored row of one entity, for inspection and tests (merges settled)."""
        blob: Any = self.client.get(self._key(kind, entity))
        if blob is None:
            return None
        width = SPECS[dict(ENTITY_KINDS)[kind]].width
        return np.frombuffer(blob, dtype="<f8", count=width).copy()

    def clear(self) -> int:
        """Delete every key under this prefix (tests, resets). Returns how many."""
        deleted = 0
        for batch in _chunks(self.client.scan_iter(match=f"{self.prefix}:*", count=1_000), 1_000):
            deleted += int(self.client.delete(*batch))
        return deleted


def _parse_rows(layout: str, found: list[bytes | None]) -> tuple[FloatMatrix, list[bytes]]:
    """Rows as read (empty where there is none) and each one's version (b"": no row).

    One copy into numpy for all of them, not a `frombuffer` and an assignment per row.
    """
    matrix = empty_rows(layout, len(found))
    size = SPECS[layout].width * 8
    present = [(i, blob) for i, blob in enumerate(found) if blob is not None]
    if present:
        rows = b"".join([memoryview(blob)[:size] for _, blob in present])
        matrix[[i for i, _ in present]] = np.frombuffer(rows, dtype="<f8").reshape(len(present), -1)
    return matrix, [b"" if blob is None else blob[size:] or UNVERSIONED for blob in found]


class _Merge:
    """A batch's merge, worked out: `apply` sends it on the merge channel."""

    __slots__ = ("_channel", "_command", "_on_conflict")

    def __init__(
        self, channel: MergeChannel, command: tuple[Any, ...], on_conflict: Callable[[], tuple[Any, ...]]
    ) -> None:
        self._channel, self._command, self._on_conflict = channel, command, on_conflict

    def apply(self) -> Pending[None]:
        return self._channel.send_merge(self._command, self._on_conflict)


def _with_version(rows: FloatMatrix, version: bytes) -> list[bytes]:
    """Each row as stored: its float64s, then the version of this write (one copy for all)."""
    size = rows.shape[1] * 8
    out = np.empty((len(rows), size + VERSION_BYTES), dtype=np.uint8)
    out[:, :size] = np.ascontiguousarray(rows, dtype="<f8").view(np.uint8)
    out[:, size:] = np.frombuffer(version, dtype=np.uint8)
    blob, step = out.tobytes(), size + VERSION_BYTES
    return [blob[k : k + step] for k in range(0, len(blob), step)]


def _chunks(iterable: Any, size: int) -> Any:
    batch: list[Any] = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
