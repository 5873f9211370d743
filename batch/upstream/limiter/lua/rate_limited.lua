-- rate_limited: a 429. Pause everyone; once per episode, cap the rate below what got through (AIMD).
-- KEYS: pause, cap, api log, streak; ARGV: now, retry_after ('' = none), rand, then the policy
local now = clock(ARGV[1])
local base, pcap, decrease, headroom, ramp, memory, min_rate, observe, min_obs, quiet =
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
  tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local paused = num(redis.call('GET', KEYS[1]), 0)
if paused > now then
  if ARGV[2] ~= '' and now + tonumber(ARGV[2]) > paused then
    paused = now + tonumber(ARGV[2])
    redis.call('SET', KEYS[1], fmt(paused), 'PX', math.ceil((paused - now + 60) * 1000))
  end
  return {'0', fmt(paused - now)}
end
local streak = redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], math.ceil(quiet * 1000))
local pause
if ARGV[2] ~= '' then pause = tonumber(ARGV[2]) else
  local step = math.min(pcap, base * 2 ^ (streak - 1))
  pause = step / 2 + tonumber(ARGV[3]) * step / 2
end
redis.call('SET', KEYS[1], fmt(now + pause), 'PX', math.ceil((pause + 60) * 1000))
local from = '(' .. fmt(now - observe)
local count = redis.call('ZCOUNT', KEYS[3], from, '+inf')
if count < min_obs then return {'1', fmt(pause)} end
local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local observed = count / math.max(observe, now - tonumber(oldest[2]))
local basis = eff(observed, cap_at(KEYS[2], now))
local level0 = math.max(min_rate, basis * decrease)
local ceiling = math.max(level0, basis * headroom ^ streak)
redis.call('HSET', KEYS[2], 'ceiling', fmt(ceiling), 'level0', fmt(level0),
           't0', fmt(now + pause), 'ramp', fmt(ramp))
redis.call('PEXPIRE', KEYS[2], math.ceil((memory + pause) * 1000))
return {'1', fmt(pause)}
