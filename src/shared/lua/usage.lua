-- Reads an account's usage across every instance as admit.lua would count it now, and
-- writes nothing (so it also runs on a replica): grants older than the window are left
-- out of the sums instead of being removed, and so are expired budget reservations.
--
-- KEYS: 1 cool-down mark, 2-3 account window, 4 budget window spend, 5-6 budget
-- reservations (expiry set, amounts)
-- ARGV: 1 window length ms
--
-- Reply: {requests, tokens, spend, reserved, cool-down ms (0 = none)}, dollars in
-- nano-dollars

local span = tonumber(ARGV[1])

local requests = num(redis.call('HGET', KEYS[3], 'reqs'))
local tokens = num(redis.call('HGET', KEYS[3], 'toks'))
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now - span))) do
  local entry = redis.call('HGET', KEYS[3], id)
  if entry then
    local r, t = parse(entry)
    requests, tokens = requests - r, tokens - t
  end
end

local reserved = num(redis.call('HGET', KEYS[6], 'sum'))
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', int(now))) do
  reserved = reserved - num(redis.call('HGET', KEYS[6], id))
end

local spend = redis.call('GET', KEYS[4]) or '0'
local cooling = redis.call('PTTL', KEYS[1])
return {
  int(math.max(0, requests)),
  int(math.max(0, tokens)),
  spend,
  int(math.max(0, reserved)),
  int(math.max(0, cooling)),
}
