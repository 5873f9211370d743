-- state: the pause left and the current cap (for reports and tests).
-- KEYS: pause, cap; ARGV: now
local now = clock(ARGV[1])
local cap = cap_at(KEYS[2], now)
return {fmt(math.max(0, num(redis.call('GET', KEYS[1]), 0) - now)), cap and fmt(cap) or ''}
