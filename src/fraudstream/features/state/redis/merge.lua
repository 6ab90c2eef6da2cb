-- KEYS: entity rows, then idempotence keys, then this merge's marker.
-- ARGV: n entities, row ttl ms, seen ttl ms, three empty-row templates, the version this
-- write gives the rows it merges (the rows it replaces carry theirs: a worker may hold
-- those as written, see `begin`'s `ahead`, but never a merged one), then per entity: its
-- layout code, the version read, the row as computed (with its new version), its
-- operations (float64 little-endian records).
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
