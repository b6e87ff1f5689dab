"""The Lua scripts of ``RedisCheckpointStore``: one per mutating operation.

Redis runs a script atomically, so each operation reads the run's meta hash, decides and writes
without WATCH retry loops, whatever the number of clients. The scripts apply the same rules as
``_checkpoint_rules.py`` (the shared conformance suite holds both to them) and read the clock
with ``TIME`` inside the script: lease expiry is the server's time, never a worker's.

Keys of a run share the hash tag ``{run_id}``: ``meta`` (hash: ``last_seq``, ``epoch``,
``status``, ``owner``, ``expires``, ``cancel``, ``created`` (server ms) and ``created_no``),
``log`` (list, entry ``seq - 1`` is the record at ``seq``) and ``keys`` (hash: record key ->
``"<seq> <digest>"``). ``running`` (one per prefix) is a sorted set of the running runs that
hold a lease, scored by lease expiry, for ``list_recoverable``; ``runs_created`` (one per
prefix) counts the runs created, and gives each its ``created_no``, which orders runs created
in the same millisecond for ``list_runs`` (metas written before it existed have none). A log
entry is ``[ts,epoch,"kind","key","digest"]`` + newline + the payload's JSON text; the client
sends everything after ``ts,`` ready-made, so the script only concatenates.
"""

from __future__ import annotations

_CLOCK = """
local function now_ms()
  local t = redis.call('TIME')
  return t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
end
"""

CREATE = (
    _CLOCK
    + """
-- KEYS: meta, log, keys, runs_created. ARGV: entry tail (the log entry after its '[ts,'), key,
-- digest.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
local now = now_ms()
redis.call('HSET', KEYS[1], 'last_seq', 1, 'epoch', 0, 'status', 'running', 'created', now,
           'created_no', redis.call('INCR', KEYS[4]))
redis.call('RPUSH', KEYS[2], '[' .. now .. ',' .. ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], '1 ' .. ARGV[3])
return {1, now}
"""
)

APPEND = (
    _CLOCK
    + """
-- KEYS: meta, log, keys, running. ARGV: run id, expected seq, epoch, status after, count,
-- then per record: key, digest, entry tail (the log entry after its '[ts,'). Both successes
-- also answer the pending cancel request (false: none), so the writer need not ask for it.
local meta = redis.call('HMGET', KEYS[1], 'last_seq', 'epoch', 'status', 'owner', 'expires',
                        'cancel')
if not meta[1] then
  return {'missing'}
end
local cancel = meta[6] or false
local last = tonumber(meta[1])
local expected = tonumber(ARGV[2])
local n = tonumber(ARGV[5])
-- The batch's keys as stored ('<seq> <digest>' or false), looked up in chunks of 500: one
-- HMGET each (unpack() of a very large batch would overflow Lua's stack).
local function stored_keys()
  local found = {}
  for first = 0, n - 1, 500 do
    local names = {}
    for i = first, math.min(first + 499, n - 1) do
      names[#names + 1] = ARGV[6 + 3 * i]
    end
    for _, value in ipairs(redis.call('HMGET', KEYS[3], unpack(names))) do
      found[#found + 1] = value
    end
  end
  return found
end
-- An identical retry succeeds before any other check, so the writer always learns the truth.
if last >= expected + n - 1 then
  local found = stored_keys()
  local same = true
  for i = 0, n - 1 do
    if found[i + 1] ~= (expected + i) .. ' ' .. ARGV[7 + 3 * i] then
      same = false
      break
    end
  end
  if same then
    return {'duplicate', last, redis.call('LRANGE', KEYS[2], expected - 1, expected + n - 2),
            cancel}
  end
end
if meta[3] == 'terminal' then
  return {'terminal', last}
end
if tonumber(meta[2]) ~= tonumber(ARGV[3]) then
  return {'fenced', tonumber(meta[2])}
end
if last ~= expected - 1 then
  return {'seq', last}
end
local now = now_ms()
if n == 1 then
  -- One record (a read cycle's commit): HSETNX checks its key and stores it in one call.
  if redis.call('HSETNX', KEYS[3], ARGV[6], expected .. ' ' .. ARGV[7]) == 0 then
    return {'key', ARGV[6], redis.call('HGET', KEYS[3], ARGV[6])}
  end
  redis.call('RPUSH', KEYS[2], '[' .. now .. ',' .. ARGV[8])
else
  local found = stored_keys()
  for i = 0, n - 1 do
    if found[i + 1] then
      return {'key', ARGV[6 + 3 * i], found[i + 1]}
    end
  end
  for first = 0, n - 1, 500 do
    local entries, fields = {}, {}
    for i = first, math.min(first + 499, n - 1) do
      local at = 6 + 3 * i
      entries[#entries + 1] = '[' .. now .. ',' .. ARGV[at + 2]
      fields[#fields + 1] = ARGV[at]
      fields[#fields + 1] = (expected + i) .. ' ' .. ARGV[at + 1]
    end
    redis.call('RPUSH', KEYS[2], unpack(entries))
    redis.call('HSET', KEYS[3], unpack(fields))
  end
end
local status = ARGV[4]
redis.call('HSET', KEYS[1], 'last_seq', last + n, 'status', status)
if status == 'terminal' then
  redis.call('HDEL', KEYS[1], 'owner', 'expires')
  redis.call('ZREM', KEYS[4], ARGV[1])
elseif status == 'waiting' then
  redis.call('ZREM', KEYS[4], ARGV[1])
elseif meta[3] ~= 'running' and meta[4] then
  redis.call('ZADD', KEYS[4], meta[5], ARGV[1])
end
return {'ok', last + n, now, cancel}
"""
)

ACQUIRE = (
    _CLOCK
    + """
-- KEYS: meta, running. ARGV: run id, owner, ttl ms.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'owner', 'expires')
if not meta[1] then
  return {'missing'}
end
if meta[2] == 'terminal' then
  return {'terminal'}
end
local now = tonumber(now_ms())
if meta[3] and tonumber(meta[4]) > now then
  return {'held'}
end
local epoch = tonumber(meta[1]) + 1
local expires = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'epoch', epoch, 'owner', ARGV[2], 'expires', expires)
if meta[2] == 'running' then
  redis.call('ZADD', KEYS[2], expires, ARGV[1])
end
return {'ok', epoch, expires}
"""
)

RENEW = (
    _CLOCK
    + """
-- KEYS: meta, running. ARGV: run id, owner, epoch, ttl ms.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'owner', 'expires', 'cancel')
if not meta[1] then
  return {'missing'}
end
local now = tonumber(now_ms())
if meta[3] ~= ARGV[2] or tonumber(meta[1]) ~= tonumber(ARGV[3])
    or not meta[4] or tonumber(meta[4]) <= now then
  return {'lost', meta[5]}
end
local expires = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'expires', expires)
if meta[2] == 'running' then
  redis.call('ZADD', KEYS[2], expires, ARGV[1])
end
return {'ok', meta[5], expires}
"""
)

RELEASE = """
-- KEYS: meta, running. ARGV: run id, owner, epoch.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'owner')
if not meta[1] then
  return {'missing'}
end
if meta[2] ~= ARGV[2] or tonumber(meta[1]) ~= tonumber(ARGV[3]) then
  return {'no'}
end
redis.call('HDEL', KEYS[1], 'owner', 'expires')
redis.call('ZREM', KEYS[2], ARGV[1])
return {'ok'}
"""

CANCEL = """
-- KEYS: meta. ARGV: reason.
local meta = redis.call('HMGET', KEYS[1], 'status', 'cancel')
if not meta[1] then
  return {'missing'}
end
if meta[1] == 'terminal' or meta[2] then
  return {'no'}
end
redis.call('HSET', KEYS[1], 'cancel', ARGV[1])
return {'ok'}
"""

DELETE = (
    _CLOCK
    + """
-- KEYS: meta, log, keys, running. ARGV: run id.
local meta = redis.call('HMGET', KEYS[1], 'owner', 'expires')
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'missing'}
end
if meta[1] and tonumber(meta[2]) > tonumber(now_ms()) then
  return {'held', meta[1]}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return {'ok'}
"""
)

HEAD = (
    _CLOCK
    + """
-- KEYS: meta. Read-only: the meta and the server's clock in one atomic step.
local meta = redis.call('HMGET', KEYS[1], 'last_seq', 'epoch', 'status', 'owner', 'expires',
                        'cancel')
return {now_ms(), meta}
"""
)

RECOVERABLE = (
    _CLOCK
    + """
-- KEYS: running. ARGV: limit (-1 for all). Read-only.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, ARGV[1])
"""
)
