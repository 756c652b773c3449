/**
 * Bearer tokens per upstream and scope, kept until they expire (less a margin, and never
 * longer than MAX_LIFETIME_S) by the injected clock. Tokens never leave this cache except in requests to their own upstream.
 */
import type { Clock } from '../primitives/clock.js';

/** Tokens are dropped this long before they expire, so a request never carries a dying one. */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when the response has no expires_in. */
const DEFAULT_LIFETIME_S = 60;
/**
 * The longest Keel keeps a token, whatever expires_in says (registries issue minutes: Docker
 * Hub 300 s). A huge or infinite expires_in would otherwise pin one token forever, and a
 * token revoked upstream would cost a refused request on every pull instead of a refresh.
 */
export const MAX_LIFETIME_S = 60 * 60;

interface Entry {
  token: string;
  expiresAt: number;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: Clock) {}

  private key(upstream: string, scope: string): string {
    return `${upstream}\n${scope}`;
  }

  get(upstream: string, scope: string): string | undefined {
    const key = this.key(upstream, scope);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.clock.now() >= entry.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /** Stores a token from a token response (`expires_in` seconds, `issued_at` RFC 3339). */
  set(upstream: string, scope: string, token: string, expiresIn: number | undefined, issuedAt: string | undefined): void {
    const now = this.clock.now();
    const issued = issuedAt ? Date.parse(issuedAt) : NaN;
    // Trust issued_at only when it is sane relative to our clock (clock skew otherwise shortens tokens to nothing).
    const start = Number.isFinite(issued) && Math.abs(issued - now) < 5 * 60_000 ? issued : now;
    // NaN fails the test and takes the default; Infinity (JSON 1e400) is capped like any huge value.
    const seconds = expiresIn !== undefined && expiresIn > 0 ? Math.min(expiresIn, MAX_LIFETIME_S) : DEFAULT_LIFETIME_S;
    const lifetime = seconds * 1000;
    const margin = Math.min(EXPIRY_MARGIN_MS, lifetime / 2);
    this.entries.set(this.key(upstream, scope), { token, expiresAt: start + lifetime - margin });
  }

  drop(upstream: string, scope: string): void {
    this.entries.delete(this.key(upstream, scope));
  }
}
