-- Shared by admit.lua and settle.lua (prepended to each): the server clock and the
-- sliding rate-limit window of one scope (an account, or one model of it).
--
-- A window is a sorted set of reservation ids scored by grant time (ms) and a hash
-- holding each id's "requests tokens" plus the running sums `reqs` and `toks`.

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function num(value)
  return tonumber(value) or 0
end

-- Lua numbers are doubles and print as `1e+15` past 14 digits: integers go to Redis
-- through this.
local function int(value)
  return string.format('%d', value)
end

local function parse(entry)
  local requests, tokens = string.match(entry, '^(%d+) (%d+)$')
  return tonumber(requests), tonumber(tokens)
end

-- Drops the reservations granted more than `span` ms ago from the window's sums.
local function expire(log, held, span)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', int(now - span))
  if #old == 0 then
    return
  end
  local requests, tokens = 0, 0
  for _, id in ipairs(old) do
    local entry = redis.call('HGET', held, id)
    if entry then
      local r, t = parse(entry)
      requests, tokens = requests + r, tokens + t
      redis.call('HDEL', held, id)
    end
  end
  redis.call('HINCRBY', held, 'reqs', int(-requests))
  redis.call('HINCRBY', held, 'toks', int(-tokens))
  redis.call('ZREMRANGEBYSCORE', log, '-inf', int(now - span))
end

-- Milliseconds until `requests` more requests and `tokens` more tokens fit, 0 when they
-- fit now, -1 when they never will (more than the limit on their own).
local function wait_for(log, held, span, rpm, tpm, requests, tokens)
  local used_requests = num(redis.call('HGET', held, 'reqs'))
  local used_tokens = num(redis.call('HGET', held, 'toks'))
  local over_requests = rpm > 0 and used_requests + requests > rpm
  local over_tokens = tpm > 0 and used_tokens + tokens > tpm
  if not over_requests and not over_tokens then
    return 0
  end
  if (rpm > 0 and requests > rpm) or (tpm > 0 and tokens > tpm) then
    return -1
  end
  -- Walk the oldest grants until enough has left the window.
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local entry = redis.call('HGET', held, entries[i])
    if entry then
      local r, t = parse(entry)
      used_requests, used_tokens = used_requests - r, used_tokens - t
    end
    local fits_requests = rpm == 0 or used_requests + requests <= rpm
    local fits_tokens = tpm == 0 or used_tokens + tokens <= tpm
    if fits_requests and fits_tokens then
      return math.max(1, tonumber(entries[i + 1]) + span - now)
    end
  end
  return span
end

local function grant(log, held, span, id, requests, tokens)
  redis.call('ZADD', log, int(now), id)
  redis.call('HSET', held, id, int(requests) .. ' ' .. int(tokens))
  redis.call('HINCRBY', held, 'reqs', int(requests))
  redis.call('HINCRBY', held, 'toks', int(tokens))
  redis.call('PEXPIRE', log, int(span + 1000))
  redis.call('PEXPIRE', held, int(span + 1000))
end

-- Sets a reservation to what it actually used; with nothing used, it leaves the window.
local function settle_window(log, held, id, requests, tokens)
  local entry = redis.call('HGET', held, id)
  if not entry then
    return
  end
  local r, t = parse(entry)
  redis.call('HINCRBY', held, 'reqs', int(requests - r))
  redis.call('HINCRBY', held, 'toks', int(tokens - t))
  if requests == 0 and tokens == 0 then
    redis.call('HDEL', held, id)
    redis.call('ZREM', log, id)
  else
    redis.call('HSET', held, id, int(requests) .. ' ' .. int(tokens))
  end
end

-- Drops budget reservations whose holder has not settled them in time.
local function expire_budget(pending, amounts)
  local old = redis.call('ZRANGEBYSCORE', pending, '-inf', int(now))
  if #old == 0 then
    return
  end
  local total = 0
  for _, id in ipairs(old) do
    total = total + num(redis.call('HGET', amounts, id))
    redis.call('HDEL', amounts, id)
  end
  redis.call('HINCRBY', amounts, 'sum', int(-total))
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', int(now))
end
