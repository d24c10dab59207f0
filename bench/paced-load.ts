/**
 * The bench's offered load: every 10 ms each pair sends its share of `rate` messages per second, so the
 * load is smooth rather than one burst a second; bounded to `seconds`. Returns how many were sent.
 */
export async function pacedLoad<T>(
  pairs: readonly (readonly [T, T])[],
  rate: number,
  seconds: number,
  send: (from: T, to: T) => void,
): Promise<number> {
  const perTick = rate / 100 / pairs.length;
  let sent = 0;
  let carry = 0;
  for (let tick = 0; tick < seconds * 100; tick++) {
    const start = performance.now();
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    for (const [from, to] of pairs) {
      for (let i = 0; i < n; i++) send(from, to);
      sent += n;
    }
    await new Promise((res) => setTimeout(res, Math.max(0, 10 - (performance.now() - start))));
  }
  return sent;
}
