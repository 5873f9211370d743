-- capacity: paced slots left in the coming horizon, for all calls and for submits.
-- KEYS: pause, cap, api cursor, submit cursor; ARGV: now, horizon, pace, api rate, submit rate (0 = none)
local now = clock(ARGV[1])
local horizon, pace = tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(now, num(redis.call('GET', KEYS[1]), 0))
local cap = cap_at(KEYS[2], now)
local function slots(key, rate)
  local from = math.max(start, num(redis.call('GET', key), 0))
  return math.max(0, math.ceil((now + horizon - from) * eff(rate, cap) * pace - 1e-9))
end
local calls = slots(KEYS[3], tonumber(ARGV[4]))
local submits = calls
if tonumber(ARGV[5]) > 0 then submits = math.min(calls, slots(KEYS[4], tonumber(ARGV[5]))) end
return {calls, submits}
