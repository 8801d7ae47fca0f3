-- The StateStore operations that need more than one command, each atomic.
-- KEYS: 1 counter, 2-3 its reservations (expiry set, amounts), 4 write ids applied to
-- the counter (id -> when it may be forgotten)
-- ARGV[1] names the operation; the rest are its arguments.

local op = ARGV[1]
if op == 'add_once' then
  -- ARGV: amount, write id, how long the id is remembered (ms). Reply: the counter.
  -- A write sent again because its answer never came adds nothing the second time.
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', int(now))
  if redis.call('ZSCORE', KEYS[4], ARGV[3]) then
    return num(redis.call('GET', KEYS[1]))
  end
  redis.call('ZADD', KEYS[4], int(now + tonumber(ARGV[4])), ARGV[3])
  redis.call('PEXPIRE', KEYS[4], int(tonumber(ARGV[4]) + 1000))
  return redis.call('INCRBY', KEYS[1], ARGV[2])
end
if op == 'fetch_or' then
  local merged = bit.bor(num(redis.call('GET', KEYS[1])), tonumber(ARGV[2]))
  redis.call('SET', KEYS[1], int(merged))
  return int(merged)
end

expire_budget(KEYS[2], KEYS[3])
if op == 'reserve' then
  -- ARGV: amount, limit, ttl ms. Reply: the reservation id, or -1 when it does not fit.
  local amount, limit, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  local committed = num(redis.call('GET', KEYS[1])) + num(redis.call('HGET', KEYS[3], 'sum'))
  if committed + amount > limit then
    return -1
  end
  local id = redis.call('HINCRBY', KEYS[3], 'seq', 1)
  redis.call('ZADD', KEYS[2], int(now + ttl), id)
  redis.call('HSET', KEYS[3], id, ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'sum', ARGV[2])
  return id
end

-- 'commit' (ARGV: id, actual) and 'cancel' (ARGV: id) end a reservation.
local held = redis.call('HGET', KEYS[3], ARGV[2])
if held then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'sum', int(-num(held)))
end
if op == 'commit' then
  return redis.call('INCRBY', KEYS[1], ARGV[3])
end
return 0
