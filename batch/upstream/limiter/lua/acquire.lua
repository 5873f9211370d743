-- acquire: may one call go now? Checks the pause, then each moving window (all calls; submits).
-- KEYS: pause, cap, log... ; ARGV: now, member, keep, guard, rate per log
-- Returns '0' (granted, recorded in every log) or the seconds to wait.
local now = clock(ARGV[1])
local pause = num(redis.call('GET', KEYS[1]), 0)
if pause > now then return fmt(pause - now) end
local cap = cap_at(KEYS[2], now)
local wait = 0
for i = 3, #KEYS do
  local w, n = window(eff(tonumber(ARGV[i + 2]), cap), tonumber(ARGV[4]))
  local from = '(' .. fmt(now - w)
  if redis.call('ZCOUNT', KEYS[i], from, '+inf') >= n then
    local e = redis.call('ZREVRANGEBYSCORE', KEYS[i], '+inf', from, 'WITHSCORES', 'LIMIT', n - 1, 1)
    wait = math.max(wait, tonumber(e[2]) + w - now, 0.001)
  end
end
if wait > 0 then return fmt(wait) end
local keep = tonumber(ARGV[3])
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - keep)
  redis.call('PEXPIRE', KEYS[i], math.ceil(keep * 1000))
end
return '0'
