/**
 * The Redis bus's scripts. Each checks and changes one seat atomically (the holder's session decides), so
 * two instances racing on a seat (a resume here, a stale drop there) cannot both win.
 *
 * Every script touches one hash slot only: all its keys, and the shard channels it publishes on, carry the
 * room's hash tag (`redis-keys.ts`), which is what Redis Cluster requires of a script (a key of another slot
 * fails with "non local key"). On a single Redis the tags change nothing.
 */
import { script } from './redis-connection.js';

/**
 * Join atomically: re-seat an existing member, refuse when full, else add; mark it alive and end any grace.
 * KEYS seats, nodes, alive, grace. ARGV peerId, seat, maxSize, nodeId, presenceTtlMs.
 * Returns {0} full, {1, '', '', seats} new, {2, previous holder's node, previous seat, seats}; seats are every
 * seat of the room after the join (so the welcome costs no second read).
 */
export const JOIN_SCRIPT = script(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {0} end
local oldNode = redis.call('HGET', KEYS[2], ARGV[1]) or ''
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
redis.call('DEL', KEYS[4])
local seats = redis.call('HVALS', KEYS[1])
if old then return {2, oldNode, old, seats} end
return {1, '', '', seats}`);

/**
 * Remove a member. ARGV[2] = '1': only while it is suspended and out of grace (or its instance died).
 * ARGV[3] non-empty: only while that session holds the seat. KEYS seats, nodes, alive, grace, mbox.
 * Returns {node, seat} removed, or nil.
 */
export const LEAVE_SCRIPT = script(`
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
return {node, raw}`);

/**
 * Suspend a member, only while ARGV[2]'s session holds the seat on instance ARGV[3] (a newer connection
 * resumed it otherwise). Starts the resume window. KEYS seats, nodes, alive, grace. Returns 1 when suspended.
 */
export const SUSPEND_SCRIPT = script(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).session.sessionId ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], '')
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
return 1`);

/**
 * A member's liveness, refreshed by the instance holding it. A member it holds gets its liveness key again.
 * One orphaned meanwhile (ARGV[5] = '1': the member is connected here, but this instance stalled past the
 * presence TTL and another one's sweep took it for dead) is reclaimed while its session still holds the seat
 * and no other instance took it over: its grace ends, and its frames route here again. KEYS seats, nodes,
 * alive, grace. ARGV peerId, nodeId, sessionId, presenceTtlMs, attached. Returns 1 alive, 2 reclaimed,
 * 0 not ours (left, resumed elsewhere, or suspended here).
 */
export const HEARTBEAT_SCRIPT = script(`
local node = redis.call('HGET', KEYS[2], ARGV[1])
if node == ARGV[2] then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
  return 1
end
if node ~= '' or ARGV[5] ~= '1' then return 0 end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw or cjson.decode(raw).session.sessionId ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
redis.call('DEL', KEYS[4])
return 2`);

/** Replace a seat (ARGV[3]) only while session ARGV[2] holds it. KEYS seats. Returns 1 when replaced. */
export const UPDATE_SCRIPT = script(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).session.sessionId ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`);

/**
 * Route one frame in one round trip: look up where its targets are held, publish one message per holding
 * instance on that instance's channel of this room, and queue in the mailbox of each target that is
 * suspended, or whose instance did not receive (it died before its liveness expired, or no longer has
 * members here): a resume elsewhere then still gets the frame.
 * KEYS nodes. ARGV base (the room's key prefix), this nodeId, packed frame, message head (the JSON of the
 * deliver message without its closing brace), 'one' | 'all', target peer (one) or the one left out (all),
 * mailbox size, resume window ms.
 * Returns {0} when the one target is no member, else {1, peers held by this instance...}.
 */
export const ROUTE_SCRIPT = script(`
local base, self = ARGV[1], ARGV[2]
local here, queued, byNode, order = {}, {}, {}, {}
local function target(peer, node)
  if node == '' then table.insert(queued, peer)
  elseif node == self then table.insert(here, peer)
  else
    if not byNode[node] then byNode[node] = {}; table.insert(order, node) end
    table.insert(byNode[node], peer)
  end
end
if ARGV[5] == 'one' then
  local node = redis.call('HGET', KEYS[1], ARGV[6])
  if not node then return {0} end
  target(ARGV[6], node)
else
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i] ~= ARGV[6] then target(all[i], all[i + 1]) end
  end
end
for _, node in ipairs(order) do
  local peers = byNode[node]
  local message = ARGV[4] .. ',"to":["' .. table.concat(peers, '","') .. '"]}'
  if redis.call('SPUBLISH', base .. 'n:' .. node, message) == 0 then
    for _, p in ipairs(peers) do table.insert(queued, p) end
  end
end
for _, p in ipairs(queued) do
  local mbox = base .. 'mbox:' .. p
  redis.call('RPUSH', mbox, ARGV[3])
  redis.call('LTRIM', mbox, -tonumber(ARGV[7]), -1)
  redis.call('PEXPIRE', mbox, ARGV[8])
end
table.insert(here, 1, 1)
return here`);

/** Queue one packed frame for a member. KEYS mbox. ARGV frame, mailbox size, resume window ms. */
export const ENQUEUE_SCRIPT = script(`
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`);

/** Take a member's queued frames, oldest first, and empty its mailbox. KEYS mbox. */
export const TAKE_MAILBOX_SCRIPT = script(`
local queued = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return queued`);

/**
 * A member's instance died (its liveness expired): suspend the seat for the resume window, only while that
 * instance still holds it. KEYS seats, nodes, grace. ARGV peerId, dead node, window ms. Returns the seat or nil.
 */
export const ORPHAN_SCRIPT = script(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return nil end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return nil end
redis.call('HSET', KEYS[2], ARGV[1], '')
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3], 'NX')
return raw`);

/**
 * Record a revocation and tell every instance, atomically: the record and the channel share a slot.
 * KEYS revocations hash. ARGV userId, revocation JSON, control channel.
 */
export const REVOKE_SCRIPT = script(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('SPUBLISH', ARGV[3], ARGV[2])`);

/**
 * Put back a seat this instance holds, after Redis came back possibly without it (a restart without
 * persistence, or a promoted replica that missed the last writes): restore it when missing, reclaim it
 * when it is ours (same session), never take it from a newer session. KEYS seats, nodes, alive.
 * ARGV peerId, seat, nodeId, sessionId, presenceTtlMs. Returns 1 when the seat is ours.
 */
export const REASSERT_SCRIPT = script(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw).session.sessionId ~= ARGV[4] then return 0 end
if not raw then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[5])
return 1`);
