/**
 * Names of the Redis bus's keys and shard channels. Everything a room's scripts touch carries the room's
 * hash tag, so a room lives on one slot (one primary of a cluster) and different rooms spread over the
 * primaries; its members' liveness, grace and mailbox keys are the room's too (a peer id belongs to one
 * room). Only the session index (looked up by session id alone) and the control keys live elsewhere.
 *
 * `{prefix}{r<room>}:…` — Redis hashes the text between the first `{` and the next `}` (Cluster spec, "hash
 * tags"). The prefix cannot hold a brace (config), so the first `{` is ours; the `r` before the room keeps
 * the tag non-empty when a room name starts with `}` (an empty tag would hash the whole key, and scatter a
 * room over slots). A `}` inside a room name ends the tag early, but at the same place for every key of
 * that room, so they still share a slot.
 *
 *   {r<room>}:seats          HASH peerId → {member, session, joinedAt} (what does not change while seated)
 *   {r<room>}:nodes          HASH peerId → instance holding its connection; '' while suspended
 *   {r<room>}:alive:<peer>   the member's instance is alive; refreshed by it, expires when it dies
 *   {r<room>}:grace:<peer>   a suspended member may still resume until this expires (the one resume window)
 *   {r<room>}:mbox:<peer>    LIST of packed frames queued while suspended (bounded)
 *   {r<room>}:n:<nodeId>     shard channel: frames and evictions for that instance's members of the room,
 *                            subscribed while it has members there
 *   sess:<sessionId>         a resumable session record; valid while its member still holds the seat
 *   {ctl}:revoked            HASH userId → revocation, pruned when read after it ends
 *   {ctl}:revocations        shard channel: revocations, for every instance
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** The prefix of every key and channel of a room (ends with `:`). */
  room(room: string): string {
    return `${this.prefix}{r${room}}:`;
  }

  seats(room: string): string {
    return `${this.room(room)}seats`;
  }

  nodes(room: string): string {
    return `${this.room(room)}nodes`;
  }

  alive(room: string, peerId: string): string {
    return `${this.room(room)}alive:${peerId}`;
  }

  grace(room: string, peerId: string): string {
    return `${this.room(room)}grace:${peerId}`;
  }

  mailbox(room: string, peerId: string): string {
    return `${this.room(room)}mbox:${peerId}`;
  }

  /** The shard channel that carries a room's frames to one instance. */
  channel(room: string, nodeId: string): string {
    return `${this.room(room)}n:${nodeId}`;
  }

  session(sessionId: string): string {
    return `${this.prefix}sess:${sessionId}`;
  }

  revoked(): string {
    return `${this.prefix}{ctl}:revoked`;
  }

  control(): string {
    return `${this.prefix}{ctl}:revocations`;
  }

  /** SCAN pattern of every room's seats key. */
  seatsPattern(): string {
    return `${this.prefix}{r*}:seats`;
  }

  /** The room of a seats key found by {@link seatsPattern}; null for a key of another shape. */
  roomOfSeats(key: string): string | null {
    const head = `${this.prefix}{r`;
    const tail = '}:seats';
    return key.startsWith(head) && key.endsWith(tail) ? key.slice(head.length, -tail.length) : null;
  }
}
