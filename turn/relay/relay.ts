/**
 * The one relay interface the rest of the platform sees. Whatever implements it (our hardened relay, with
 * `node-turn` kept behind `node-turn-relay.ts`) owns sockets and timers and frees them all in `close()`.
 */
export interface RelayAddress {
  /** Address the relay's listening UDP socket is bound to. */
  host: string;
  /** UDP port of the STUN/TURN listener (resolved when 0 was asked for). */
  port: number;
}

export interface Relay {
  readonly address: RelayAddress;
  /** Idempotent; resolves when every socket and timer the relay opened is closed. */
  close(): Promise<void>;
}
