-- Admits one attempt (or takes one lease block) against an account's shared state in a
-- single round trip: breaker, 429 cool-down, rate limits, then budget. Nothing is
-- written unless every check passes.
--
-- KEYS: 1 cool-down mark, 2-3 account window, 4-5 model window, 6 window spend, 7-8
-- budget reservations (expiry set, amounts), as in settle.lua; 9 revoked reservation
-- ids, 10 breaker
-- ARGV: 1 requests, 2 tokens, 3 account rpm, 4 account tpm, 5 model rpm, 6 model tpm
-- (0 = no limit), 7 window length ms, 8 worst-case cost in nano-dollars (0 = no budget),
-- 9 budget limit, 10 reservation ttl ms, 11 half-open trials (0 = no shared breaker),
-- 12 trial ttl ms, 13 the reservation's id (chosen by the asker), 14 the deadline on
-- this server's clock, ms (0 = none)
--
-- Reply, after the code and this server's clock in ms: {0, now, trial, breaker
-- generation, spend, account window requests, tokens, model window requests, tokens}
-- granted (the windows with this grant in them, 0 where not limited); {1, now, ms} cooling down after a 429; {2, now, ms or -1}
-- rate limited; {3, now, committed, limit} over budget; {4, now, ms} breaker open;
-- {5, now} refused unseen: past its deadline, or revoked by its asker, who gave up.

local requests, tokens = tonumber(ARGV[1]), tonumber(ARGV[2])
local rpm, tpm, model_rpm, model_tpm =
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local span = tonumber(ARGV[7])
local cost, limit = tonumber(ARGV[8]), tonumber(ARGV[9])
local ttl, trials, trial_ttl = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
-- Kept a string: ids are 128-bit, past what a Lua number holds.
local id, deadline = ARGV[13], tonumber(ARGV[14])
local at = int(now)

-- Its asker stopped waiting (a stalled server runs what it had read once it resumes):
-- a grant now would hold capacity that nobody uses.
if (deadline > 0 and now > deadline) or redis.call('ZSCORE', KEYS[9], id) then
  return {5, at}
end

local trial, generation = 0, 0
if trials > 0 and redis.call('EXISTS', KEYS[10]) == 1 then
  local breaker = redis.call('HMGET', KEYS[10], 'until', 'taken', 'trial_until', 'gen')
  local open_until, taken = num(breaker[1]), num(breaker[2])
  local trial_until = num(breaker[3])
  generation = num(breaker[4])
  if now < open_until then
    return {4, at, int(open_until - now)}
  end
  if taken >= trials and now < trial_until then
    return {4, at, int(trial_until - now)}
  end
  trial = 1
end

local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then
  return {1, at, cooling}
end

local limited = rpm > 0 or tpm > 0
local model_limited = model_rpm > 0 or model_tpm > 0
local wait = 0
if limited then
  expire(KEYS[2], KEYS[3], span)
  wait = wait_for(KEYS[2], KEYS[3], span, rpm, tpm, requests, tokens)
end
if model_limited and wait >= 0 then
  expire(KEYS[4], KEYS[5], span)
  local model_wait = wait_for(KEYS[4], KEYS[5], span, model_rpm, model_tpm, requests, tokens)
  wait = model_wait < 0 and -1 or math.max(wait, model_wait)
end
if wait ~= 0 then
  return {2, at, int(wait)}
end

local spend = redis.call('GET', KEYS[6]) or '0'
if cost > 0 then
  expire_budget(KEYS[7], KEYS[8])
  local committed = num(spend) + num(redis.call('HGET', KEYS[8], 'sum'))
  if committed + cost > limit then
    return {3, at, int(committed), int(limit)}
  end
end

if limited then
  grant(KEYS[2], KEYS[3], span, id, requests, tokens)
end
if model_limited then
  grant(KEYS[4], KEYS[5], span, id, requests, tokens)
end
if cost > 0 then
  redis.call('ZADD', KEYS[7], int(now + ttl), id)
  redis.call('HSET', KEYS[8], id, ARGV[8])
  redis.call('HINCRBY', KEYS[8], 'sum', ARGV[8])
  redis.call('PEXPIRE', KEYS[7], int(ttl + 1000))
  redis.call('PEXPIRE', KEYS[8], int(ttl + 1000))
end
if trial == 1 then
  local taken = num(redis.call('HGET', KEYS[10], 'taken'))
  local trial_until = num(redis.call('HGET', KEYS[10], 'trial_until'))
  if now >= trial_until then
    -- Trials granted before and never reported were held by an instance that died.
    taken = 0
  end
  redis.call('HSET', KEYS[10], 'taken', int(taken + 1), 'trial_until', int(now + trial_ttl))
end
-- The windows as this grant leaves them: what the asker balances by headroom with.
local used = {0, 0, 0, 0}
if limited then
  used[1], used[2] = redis.call('HGET', KEYS[3], 'reqs'), redis.call('HGET', KEYS[3], 'toks')
end
if model_limited then
  used[3], used[4] = redis.call('HGET', KEYS[5], 'reqs'), redis.call('HGET', KEYS[5], 'toks')
end
return {0, at, trial, int(generation), spend, num(used[1]), num(used[2]), num(used[3]),
  num(used[4])}
