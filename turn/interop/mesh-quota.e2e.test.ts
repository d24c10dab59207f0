/**
 * The per-user allocation quota against what clients really do: eight relay-only Node SDK peers
 * (@roamhq/wrtc) in one room, every ICE server signaling hands out (UDP, TCP, TLS), the relay at its
 * default quota. libwebrtc allocates per peer connection, per TURN URL and per local network, so a mesh
 * peer holds several allocations per link; every pair must connect relayed with none refused 486.
 */
import { describe, expect, it } from 'vitest';
import { meshAllocations } from '../../test-support/relay-mesh.js';
import { loadTurnConfig } from '../config.js';

describe('allocation quota', () => {
  it('fits a relay-only peer in a mesh of 8 over every transport at the default quota', async () => {
    const mesh = await meshAllocations(8);
    process.stdout.write(`mesh of 8: ${JSON.stringify(mesh)}\n`);
    expect(mesh.refusedForQuota).toBe(0);
    expect(mesh.perPeer).toBeLessThanOrEqual(loadTurnConfig({}).userQuota);
    // Each link holds at least its UDP and TCP allocations: the count is what the quota must fit.
    expect(mesh.perLink).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
