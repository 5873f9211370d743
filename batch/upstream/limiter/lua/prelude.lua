-- Shared by every limiter script (prepended when the scripts are loaded).
-- Times are seconds in the limiter's clock: ARGV[1] when the caller injects one, else Redis TIME.
local function num(v, d) if v then return tonumber(v) end return d end
-- tostring keeps 14 digits: 0.1 ms on an epoch time. Write numbers at full double precision.
local function fmt(x) return string.format('%.17g', x) end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME') return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function cap_at(key, now)
  local v = redis.call('HMGET', key, 'ceiling', 'level0', 't0', 'ramp')
  if not v[1] then return nil end
  local ceiling, level0, t0, ramp = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  if now <= t0 then return level0 end
  if ramp <= 0 then return ceiling end
  return math.min(ceiling, level0 + (ceiling - level0) * (now - t0) / ramp)
end
local function eff(rate, cap) if cap and cap < rate then return cap end return rate end
local function window(rate, guard)
  if rate >= 1 then return 1.0 + guard, math.floor(rate + 1e-9) end
  return (1.0 + guard) / rate, 1
end
