/**
 * The Redis bus's scripts: each checks and changes one seat atomically (the holder's session decides),
 * so two instances racing on a seat (a resume here, a stale drop there) cannot both win.
 */

/**
 * Join atomically: re-seat an existing member, refuse when full, else add.
 * Returns {0} full, {1} new, {2, previous holder's node, previous seat}.
 */
export const JOIN_SCRIPT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {0} end
local oldNode = redis.call('HGET', KEYS[2], ARGV[1]) or ''
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if old then return {2, oldNode, old} end
return {1}`;

/**
 * Remove a member. ARGV[2] = '1': only while it is suspended and out of grace (or its instance died).
 * ARGV[3] non-empty: only while that session holds the seat. Returns {node, seat} removed, or nil.
 */
export const LEAVE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return nil end
local node = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if ARGV[3] ~= '' and cjson.decode(raw).session.sessionId ~= ARGV[3] then return nil end
if ARGV[2] == '1' then
  if node ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return nil end
  if node == '' and redis.call('EXISTS', KEYS[4]) == 1 then return nil end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
return {node, raw}`;

/**
 * Suspend a member, only while ARGV[2]'s session holds the seat on instance ARGV[3] (a newer connection
 * resumed it otherwise). Starts the resume window. Returns 1 when suspended.
 */
export const SUSPEND_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).session.sessionId ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], '')
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[5], ARGV[4])
return 1`;

/** Replace a seat (ARGV[3]) only while session ARGV[2] holds it. Returns 1 when replaced. */
export const UPDATE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).session.sessionId ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'KEEPTTL')
return 1`;
