/**
 * Browser Origin check against cross-site WebSocket hijacking: a page on another site must not open an
 * authenticated socket with the user's ambient credentials. Non-browser clients send no Origin and pass.
 */
export interface OriginPolicyOptions {
  /** Explicit allow-list (exact origins, or '*'); null selects the default policy. */
  allowed: string[] | null;
  /** Development default also allows any localhost origin. */
  allowLocalhost: boolean;
}

const LOCALHOST = /^https?:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  options: OriginPolicyOptions,
): boolean {
  if (origin === undefined) return true;
  if (options.allowed) return options.allowed.includes('*') || options.allowed.includes(origin);
  if (options.allowLocalhost && LOCALHOST.test(origin)) return true;
  // Same origin: the Origin's host[:port] equals the Host the request was sent to.
  try {
    return host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}
