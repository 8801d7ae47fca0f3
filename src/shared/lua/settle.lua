-- Settles what admit.lua reserved, in one round trip: the rate windows to actual usage,
-- the budget reservation to actual spend (firing each alert threshold once across every
-- instance), a 429 cool-down, the breaker's verdict and the account's fleet health.
--
-- Each settlement carries a write id and is applied once: one sent again because its
-- answer never came (a stalled server runs what it had read once it resumes) changes
-- nothing the second time.
--
-- KEYS: 1 cool-down mark, 2-3 account window, 4-5 model window, 6 window spend,
-- 7-8 budget reservations, 9 alerts fired, 10 breaker, 11 fleet health, 12 write ids
-- applied (id -> when it may be forgotten), 13 revoked reservation ids
-- ARGV: 1 reservation id (0 = none), 2 requests used, 3 tokens used, 4 spend in
-- nano-dollars, 5 budget limit, 6 alert thresholds in percent, comma-separated,
-- 7 cool-down ms (0 = none), 8 breaker verdict (0 none, 1 trial succeeded, 2 trial
-- failed, 3 trial released, 4 opened here), 9 breaker generation, 10 recovery ms,
-- 11 health (0 none, 1 success, 2 fault), 12 latency µs, 13 spend key ttl ms,
-- 14 breaker key ttl ms, 15 write id, 16 how long write ids and revocations are
-- remembered (ms), 17 revoke (1: the reservation's asker gave up before the answer;
-- its admission is refused if it arrives later)
--
-- Reply: {spend after, alert bits that fired now}

local remember = tonumber(ARGV[16])
redis.call('ZREMRANGEBYSCORE', KEYS[12], '-inf', int(now))
if redis.call('ZSCORE', KEYS[12], ARGV[15]) then
  return {redis.call('GET', KEYS[6]) or '0', 0}
end
redis.call('ZADD', KEYS[12], int(now + remember), ARGV[15])
redis.call('PEXPIRE', KEYS[12], int(remember + 1000))

local id = ARGV[1]
if ARGV[17] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[13], '-inf', int(now))
  redis.call('ZADD', KEYS[13], int(now + remember), id)
  redis.call('PEXPIRE', KEYS[13], int(remember + 1000))
end
local spent = ARGV[4]
local cool_ms = tonumber(ARGV[7])
local verdict, generation = tonumber(ARGV[8]), tonumber(ARGV[9])

if id ~= '0' then
  local requests, tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
  settle_window(KEYS[2], KEYS[3], id, requests, tokens)
  settle_window(KEYS[4], KEYS[5], id, requests, tokens)
  local held = redis.call('HGET', KEYS[8], id)
  if held then
    redis.call('HDEL', KEYS[8], id)
    redis.call('ZREM', KEYS[7], id)
    redis.call('HINCRBY', KEYS[8], 'sum', int(-num(held)))
  end
end

local spend = redis.call('GET', KEYS[6]) or '0'
local fired = 0
if spent ~= '0' then
  spend = redis.call('INCRBY', KEYS[6], spent)
  redis.call('PEXPIRE', KEYS[6], ARGV[13])
  local limit = tonumber(ARGV[5])
  local crossed, bit_index = 0, 0
  for percent in string.gmatch(ARGV[6], '%d+') do
    if limit > 0 and tonumber(spend) * 100 >= limit * tonumber(percent) then
      crossed = bit.bor(crossed, bit.lshift(1, bit_index))
    end
    bit_index = bit_index + 1
  end
  local before = num(redis.call('GET', KEYS[9]))
  fired = bit.band(crossed, bit.bnot(before))
  if fired ~= 0 then
    redis.call('SET', KEYS[9], int(bit.bor(before, crossed)), 'PX', ARGV[13])
  end
end

if cool_ms > 0 and redis.call('PTTL', KEYS[1]) < cool_ms then
  redis.call('SET', KEYS[1], '1', 'PX', int(cool_ms))
end

local breaker_ttl = ARGV[14]
if verdict == 4 then
  local next_generation = num(redis.call('HGET', KEYS[10], 'gen')) + 1
  redis.call('HSET', KEYS[10], 'until', int(now + tonumber(ARGV[10])), 'taken', '0',
    'trial_until', '0', 'gen', int(next_generation))
  redis.call('PEXPIRE', KEYS[10], breaker_ttl)
elseif verdict > 0 and num(redis.call('HGET', KEYS[10], 'gen')) == generation then
  if verdict == 1 then
    redis.call('DEL', KEYS[10])
  elseif verdict == 2 then
    redis.call('HSET', KEYS[10], 'until', int(now + tonumber(ARGV[10])), 'taken', '0',
      'trial_until', '0', 'gen', int(generation + 1))
    redis.call('PEXPIRE', KEYS[10], breaker_ttl)
  else
    local taken = num(redis.call('HGET', KEYS[10], 'taken'))
    redis.call('HSET', KEYS[10], 'taken', int(math.max(0, taken - 1)))
  end
end

local health = tonumber(ARGV[11])
if health > 0 then
  -- Ten-second buckets; the one a minute older is dropped as a new one fills.
  local bucket = math.floor(now / 10000)
  local field = health == 1 and ':ok' or ':fault'
  redis.call('HINCRBY', KEYS[11], bucket .. field, 1)
  redis.call('HINCRBY', KEYS[11], bucket .. ':us', ARGV[12])
  local stale = bucket - 7
  redis.call('HDEL', KEYS[11], stale .. ':ok', stale .. ':fault', stale .. ':us')
  redis.call('PEXPIRE', KEYS[11], 120000)
end

return {spend, fired}
