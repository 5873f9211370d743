-- plan: reserve paced start times on the shared cursors, in the order given.
-- KEYS: pause, cap, api cursor, submit cursor; ARGV: now, pace, then per call: is_submit, due_in, api, submit
local now = clock(ARGV[1])
local pace = tonumber(ARGV[2])
local start = math.max(now, num(redis.call('GET', KEYS[1]), 0))
local cap = cap_at(KEYS[2], now)
local ca = math.max(start, num(redis.call('GET', KEYS[3]), 0))
local cs = math.max(start, num(redis.call('GET', KEYS[4]), 0))
local out = {}
for i = 3, #ARGV, 4 do
  local due, ra, rs = now + tonumber(ARGV[i + 1]), eff(tonumber(ARGV[i + 2]), cap) * pace, tonumber(ARGV[i + 3])
  local t
  if ARGV[i] == '1' and rs > 0 then
    -- a submit with its own ceiling goes on the submit cursor and takes one all-calls slot from the
    -- polls, without making them wait for it
    t = math.max(due, cs)
    cs = t + 1 / (eff(rs, cap) * pace)
    ca = ca + 1 / ra
  else
    t = math.max(due, ca)
    ca = t + 1 / ra
  end
  out[#out + 1] = fmt(t - now)
end
redis.call('SET', KEYS[3], fmt(ca), 'PX', 600000)
redis.call('SET', KEYS[4], fmt(cs), 'PX', 600000)
return out
