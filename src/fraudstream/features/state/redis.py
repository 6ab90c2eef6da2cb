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
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from fraudstream.features.events import Events
from fraudstream.features.layout import DAY, K_DAY_SLOTS, LAYOUT_VERSION, SPECS, RowSpec, empty_rows
from fraudstream.features.state.base import ENTITY_KINDS, NO_FOLD, FeatureState, Fold, Workspace, first_occurrences
from fraudstream.pending import InFlight, Pending

__all__ = ["RedisState"]

log = logging.getLogger(__name__)

FloatMatrix = npt.NDArray[np.float64]
LAYOUT_CODES = {"customer": b"1", "shop": b"2", "device": b"3"}  # as the script reads them
RING, LAST, TABLE = 1.0, 2.0, 3.0

# KEYS: entity rows, then idempotence keys, then this merge's marker.
# ARGV: n entities, row ttl ms, seen ttl ms, three empty-row templates, the version this
# write gives the rows it merges (the rows it replaces carry theirs: a worker may hold
# those as written, see `begin`'s `ahead`, but never a merged one), then per entity: its
# layout code, the version read, the row as computed (with its new version), its
# operations (float64 little-endian records).
MERGE = """
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local seen_ttl = tonumber(ARGV[3])
local templates = {ARGV[4], ARGV[5], ARGV[6]}
local merged_version = ARGV[7]
local marker = KEYS[#KEYS]
if redis.call('EXISTS', marker) == 1 then return 0 end  -- sent again: it went through the first time

local function cells(key, off, count)
  local raw = redis.call('GETRANGE', key, off * 8, (off + count) * 8 - 1)
  return {struct.unpack('<' .. string.rep('d', count), raw)}
end

local function put(key, off, values, count)
  redis.call('SETRANGE', key, off * 8, struct.pack('<' .. string.rep('d', count), unpack(values, 1, count)))
end

local function isnan(x) return x ~= x end

local function merge(key, template, ops)
  if redis.call('EXISTS', key) == 0 then
    redis.call('SET', key, template)
  end
  if ops == '-' then return end  -- nothing to merge
  local pos = 1
  while pos <= #ops do
    local op, off, count
    op, off, count, pos = struct.unpack('<ddd', ops, pos)
    if op == 1 then
      local maxcell
      maxcell, pos = struct.unpack('<d', ops, pos)
      local fmt = '<' .. string.rep('d', count)
      local old = {struct.unpack(fmt, ops, pos)}
      pos = old[count + 1]
      local new = {struct.unpack(fmt, ops, pos)}
      pos = new[count + 1]
      local cur = cells(key, off, count)
      local untouched = true
      for q = 1, count do
        if cur[q] ~= old[q] and not (isnan(cur[q]) and isnan(old[q])) then untouched = false break end
      end
      if untouched then
        put(key, off, new, count)  -- nobody else wrote this slot since it was read: exact
      else
        -- what this batch added to the bucket: a difference if the bucket was there, else all of it
        local added = {new[1]}
        for q = 2, count do
          if q - 1 == maxcell or old[1] ~= new[1] then added[q] = new[q] else added[q] = new[q] - old[q] end
        end
        if isnan(cur[1]) or cur[1] < new[1] then
          put(key, off, added, count)
        elseif cur[1] == new[1] then
          local empty = cur[2] == 0
          for q = 2, count do
            if q - 1 == maxcell then
              if empty or added[q] > cur[q] then cur[q] = added[q] end
            else
              cur[q] = cur[q] + added[q]
            end
          end
          put(key, off, cur, count)
        end
      end
    elseif op == 2 then
      local new = {struct.unpack('<dddd', ops, pos)}
      pos = new[5]
      local cur = cells(key, off, 4)
      if isnan(cur[1]) or (not isnan(new[1]) and new[1] > cur[1]) then cur[1] = new[1] end
      if not isnan(new[2]) and (isnan(cur[2]) or new[2] >= cur[2]) then
        cur[2], cur[3], cur[4] = new[2], new[3], new[4]
      end
      put(key, off, cur, 4)
    else
      local item, last
      item, last, pos = struct.unpack('<dd', ops, pos)
      local t = cells(key, off, 2 * count)
      local found, free, oldest, oldest_last = nil, nil, nil, math.huge
      for j = 0, count - 1 do
        local k, l = t[2 * j + 1], t[2 * j + 2]
        if k == item then found = j break end
        if isnan(k) then
          if free == nil then free = j end
        elseif l < oldest_last then
          oldest, oldest_last = j, l
        end
      end
      if found ~= nil then
        if last > t[2 * found + 2] then put(key, off + 2 * found + 1, {last}, 1) end
      else
        local slot = free
        if slot == nil and last >= oldest_last then slot = oldest end
        if slot ~= nil then put(key, off + 2 * slot, {item, last}, 2) end
      end
    end
  end
end

-- Rows sent without operations (customers: one worker owns each) can only be replaced.
-- If one was written meanwhile, nothing is applied: the conflicts go back, and the
-- client sends the merge again with their operations.
local conflicts = {}
for i = 1, n do
  if ARGV[7 + 4 * i] == '' then
    local width = #templates[tonumber(ARGV[7 + 4 * i - 3])]
    if redis.call('GETRANGE', KEYS[i], width, width + 7) ~= ARGV[7 + 4 * i - 2] then
      conflicts[#conflicts + 1] = i
    end
  end
end
if #conflicts > 0 then return conflicts end

local merged = 0
for i = 1, n do
  local key = KEYS[i]
  local template = templates[tonumber(ARGV[7 + 4 * i - 3])]
  local width = #template
  local ops = ARGV[7 + 4 * i]
  if ops == '' or redis.call('GETRANGE', key, width, width + 7) == ARGV[7 + 4 * i - 2] then
    redis.call('SET', key, ARGV[7 + 4 * i - 1], 'PX', ttl)
  else
    merge(key, template, ARGV[7 + 4 * i])
    redis.call('SETRANGE', key, width, merged_version)
    redis.call('PEXPIRE', key, ttl)
    merged = merged + 1
  end
end
for j = n + 1, #KEYS do
  redis.call('SET', KEYS[j], '1', 'PX', seen_ttl)
end
return merged  -- rows somebody else had written since they were read
"""


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
CALM_MERGES = 8

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
        self._channel = _MergeChannel(self.client, lambda: self.client.script_load(MERGE))
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


class _MergeChannel:
    """A connection on which a merge is sent without waiting, and reads queue behind it.

    Redis runs a connection's commands in order, so reads sent after a merge see it.
    A merge stays pending until its reply is read; one whose reply was lost (the
    connection broke) is sent again ahead of the next reads. The connection is the
    channel's own, made as the client's pool makes its connections: taking one from the
    pool and giving it back, with the pool's check for unread data, cost every round
    trip a syscall.
    """

    def __init__(self, client: redis.Redis, load_script: Callable[[], Any]) -> None:
        self.load_script = load_script
        pool = client.connection_pool
        # redis-py's Connection, whose methods are untyped; it connects again when used after a drop
        self._connection: Any = pool.connection_class(**pool.connection_kwargs)
        self._pending: tuple[Any, ...] | None = None  # the merge not acknowledged yet
        self._on_conflict: Callable[[], tuple[Any, ...]] | None = None
        self._in_flight = False  # its reply is due on the connection
        self._sent = self._acknowledged = 0
        self._calm = CALM_MERGES  # merges in a row that found no other writer's rows

    @property
    def contended(self) -> bool:
        """A recent merge found rows that somebody else had written since they were read."""
        return self._calm < CALM_MERGES

    def send_merge(self, command: tuple[Any, ...], on_conflict: Callable[[], tuple[Any, ...]]) -> Pending[None]:
        """Send `command`; if the script reports conflicts, `on_conflict()` is sent instead."""
        if self._pending is not None:
            self.round_trip([])  # one merge in flight at a time
        self._pending, self._on_conflict = command, on_conflict
        self._sent += 1
        number = self._sent
        self._send([])
        return InFlight(lambda: self._settle(number))

    def _settle(self, number: int) -> None:
        if self._acknowledged < number:
            self.round_trip([])

    def round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies to `commands`, sent after the pending merge, whose reply is read first."""
        try:
            return self._round_trip(commands)
        except (redis.ConnectionError, redis.TimeoutError):
            # Once more, on a new connection: the server may have closed an idle one, and
            # all that goes again is idempotent (reads; a merge, by its marker key).
            return self._round_trip(commands)

    def _round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        connection = self._send(commands)
        failure: redis.ResponseError | None = None
        try:
            if self._in_flight:
                self._in_flight = False
                try:
                    reply = connection.read_response()
                    self._calm = 0 if isinstance(reply, list) or reply > 0 else min(self._calm + 1, CALM_MERGES)
                    if isinstance(reply, list) and self._on_conflict is not None:
                        # Nothing was applied: send it again, with operations for every row.
                        log.debug("feature-state merge conflicted on %d rows", len(reply))
                        self._pending, self._on_conflict = self._on_conflict(), None
                    else:
                        self._pending, self._acknowledged = None, self._sent
                except redis.ResponseError as exc:
                    failure = exc
            replies = [connection.read_response() for _ in commands]
        except (redis.ConnectionError, redis.TimeoutError):
            self._drop()
            raise
        if self._pending is not None and not self._in_flight and failure is None:
            return self._round_trip(commands)  # the conflicted merge, then the reads again
        if failure is not None:
            if not isinstance(failure, redis.exceptions.NoScriptError):
                raise failure  # stays pending: sent again by the next round trip
            self.load_script()  # Redis restarted without its scripts
            return self._round_trip(commands)
        return replies

    def _send(self, commands: list[tuple[Any, ...]]) -> Any:
        connection = self._connection
        resend = self._pending is not None and not self._in_flight
        batch = [self._pending, *commands] if self._pending is not None and resend else commands
        if batch:
            try:
                connection.send_packed_command([_resp(batch)])
            except (redis.ConnectionError, redis.TimeoutError):
                self._drop()
                raise
        self._in_flight = self._in_flight or resend
        return connection

    def _drop(self) -> None:
        """The connection broke: a reply due on it never comes (the merge stays pending)."""
        self._in_flight = False
        self._connection.disconnect()


class _Merge:
    """A batch's merge, worked out: `apply` sends it on the merge channel."""

    __slots__ = ("_channel", "_command", "_on_conflict")

    def __init__(
        self, channel: _MergeChannel, command: tuple[Any, ...], on_conflict: Callable[[], tuple[Any, ...]]
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


class _BulkHeaders(dict[int, bytes]):
    """RESP's "$<length>" line per argument length, formatted once: arguments come in a
    few lengths (rows, keys, versions), and formatting each was much of `_resp`'s work."""

    def __missing__(self, length: int) -> bytes:
        header = b"$%d\r\n" % length
        if length <= 1 << 16:  # bounded: rows, keys and operations are all shorter
            self[length] = header
        return header


_BULK_HEADERS = _BulkHeaders()


def _resp(commands: list[tuple[Any, ...]]) -> bytes:
    """Commands in Redis's wire format. Hand-written because redis-py's packer (hiredis
    included) copies every argument on the way, and a merge's arguments are megabytes."""
    parts: list[bytes] = []
    headers = _BULK_HEADERS
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts += (headers[len(data)], data, b"\r\n")
    return b"".join(parts)


def _chunks(iterable: Any, size: int) -> Any:
    batch: list[Any] = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
