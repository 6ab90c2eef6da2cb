"""Feature state in Redis, shared by every worker: one binary row per entity.

Two round trips per batch, whatever its size: `begin` reads the batch's entities and
idempotence keys in one pipeline; `commit` merges the batch into Redis with one Lua
script call, atomically. The script merges rather than overwrites, so two workers that
touch the same merchant (customers are partitioned, merchants are not) both count:

- a ring slot that nobody else wrote since it was read is written as computed (so a
  single writer's state is bit for bit the in-memory one); otherwise the batch's
  additions to its bucket are added (counts, sums; max by max), an older bucket is
  replaced and a newer one left alone;
- the customer's "latest transaction" keeps the latest;
- a table keeps, per item, the latest sighting, and the most recently seen items.

Rows expire after `entity_ttl` without writes (longer than the longest window), and
idempotence keys after `dedup_ttl` (how long a redelivery can come late).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from fraudstream.features.events import Events
from fraudstream.features.layout import DAY, SPECS, RowSpec, empty_rows
from fraudstream.features.state.base import ENTITY_KINDS, FeatureState, Workspace, first_occurrences

__all__ = ["RedisState"]

log = logging.getLogger(__name__)

FloatMatrix = npt.NDArray[np.float64]
LAYOUT_CODES = {"customer": 1, "shop": 2, "device": 3}
RING, LAST, TABLE = 1.0, 2.0, 3.0

# KEYS: entity rows, then idempotence keys.
# ARGV: n entities, row ttl ms, seen ttl ms, three empty-row templates, then per entity
# its layout code, then per entity its operations (float64 little-endian records).
MERGE = """
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local seen_ttl = tonumber(ARGV[3])
local templates = {ARGV[4], ARGV[5], ARGV[6]}

local function cells(key, off, count)
  local raw = redis.call('GETRANGE', key, off * 8, (off + count) * 8 - 1)
  return {struct.unpack('<' .. string.rep('d', count), raw)}
end

local function put(key, off, values, count)
  redis.call('SETRANGE', key, off * 8, struct.pack('<' .. string.rep('d', count), unpack(values, 1, count)))
end

local function isnan(x) return x ~= x end

for i = 1, n do
  local key = KEYS[i]
  local ops = ARGV[6 + n + i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('SET', key, templates[tonumber(ARGV[6 + i])])
  end
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
  redis.call('PEXPIRE', key, ttl)
end
for j = n + 1, #KEYS do
  redis.call('SET', KEYS[j], '1', 'PX', seen_ttl)
end
return n
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


@dataclass
class RedisWorkspace(Workspace):
    redis_keys: tuple[list[bytes], ...] = ()  # per kind, the key of each workspace row
    originals: tuple[FloatMatrix, ...] = ()  # per kind, the rows as read


class RedisState(FeatureState):
    """Feature state shared through Redis (redis-py, hiredis when installed)."""

    def __init__(
        self,
        client: redis.Redis | str,
        prefix: str = "fs",
        dedup_ttl_s: float = 7 * 86_400,
        entity_ttl_s: float = 35 * 86_400,
    ) -> None:
        self.client = redis.Redis.from_url(client) if isinstance(client, str) else client
        self.prefix = prefix
        self.dedup_ttl_ms = int(dedup_ttl_s * 1000)
        self.entity_ttl_ms = int(entity_ttl_s * 1000)
        if self.entity_ttl_ms < 31 * DAY:
            raise ValueError("entity_ttl_s must outlast the longest window (30 days)")
        self._merge = self.client.register_script(MERGE)
        self._templates = [
            empty_rows(layout, 1)[0].astype("<f8").tobytes() for layout in ("customer", "shop", "device")
        ]

    def _key(self, kind: str, entity: str) -> bytes:
        return f"{self.prefix}:{kind}:{entity}".encode()

    def _seen_key(self, key: int) -> bytes:
        return f"{self.prefix}:seen:{key:016x}".encode()

    def begin(self, events: Events) -> Workspace:
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
        pipe = self.client.pipeline(transaction=False)
        pipe.mget([self._seen_key(int(k)) for k in keys[candidates]] or [b"-"])
        for (kind, _), (entities, _) in zip(ENTITY_KINDS, per_kind, strict=True):
            pipe.mget([self._key(kind, e) for e in entities] or [b"-"])
        seen, *blobs = pipe.execute()
        if len(candidates):
            fold[candidates[[value is not None for value in seen]]] = False
        states: list[FloatMatrix] = []
        rows: list[npt.NDArray[np.int64]] = []
        originals: list[FloatMatrix] = []
        redis_keys: list[list[bytes]] = []
        for (kind, layout), (entities, local), found in zip(ENTITY_KINDS, per_kind, blobs, strict=True):
            matrix = empty_rows(layout, len(entities))
            for i, blob in enumerate(found[: len(entities)]):
                if blob is not None:
                    matrix[i] = np.frombuffer(blob, dtype="<f8")
            states.append(matrix)
            originals.append(matrix.copy())
            rows.append(local)
            redis_keys.append([self._key(kind, e) for e in entities])
        return RedisWorkspace(
            states=tuple(states),  # type: ignore[arg-type]
            rows=tuple(rows),  # type: ignore[arg-type]
            fold=fold,
            keys=keys,
            ts_ms=events.ts_ms,
            redis_keys=tuple(redis_keys),
            originals=tuple(originals),
        )

    def commit(self, workspace: Workspace) -> None:
        assert isinstance(workspace, RedisWorkspace), "a workspace from another state backend"
        entity_keys: list[bytes] = []
        layouts: list[int] = []
        operations: list[bytes] = []
        for (_, layout), keys, before, after in zip(
            ENTITY_KINDS, workspace.redis_keys, workspace.originals, workspace.states, strict=True
        ):
            for key, ops in zip(keys, row_operations(SPECS[layout], before, after), strict=True):
                if ops is not None:
                    entity_keys.append(key)
                    layouts.append(LAYOUT_CODES[layout])
                    operations.append(ops)
        seen = [self._seen_key(int(k)) for k in workspace.keys[workspace.fold]]
        if not entity_keys and not seen:
            return
        args: list[Any] = [
            len(entity_keys),
            self.entity_ttl_ms,
            self.dedup_ttl_ms,
            *self._templates,
            *layouts,
            *operations,
        ]
        self._merge(keys=[*entity_keys, *seen], args=args)

    def row(self, kind: str, entity: str) -> npt.NDArray[np.float64] | None:
        """The stored row of one entity, for inspection and tests."""
        blob: Any = self.client.get(self._key(kind, entity))
        return None if blob is None else np.frombuffer(blob, dtype="<f8").copy()

    def clear(self) -> int:
        """Delete every key under this prefix (tests, resets). Returns how many."""
        deleted = 0
        for batch in _chunks(self.client.scan_iter(match=f"{self.prefix}:*", count=1_000), 1_000):
            deleted += int(self.client.delete(*batch))
        return deleted


def _chunks(iterable: Any, size: int) -> Any:
    batch: list[Any] = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
