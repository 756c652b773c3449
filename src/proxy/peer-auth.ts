/**
 * How replicas prove to each other that a request on the internal peer path comes from one of
 * them: an HMAC-SHA256, with a key every replica on one index shares (SharedSecrets
 * "peer-key"), over the method, the path with its query, and an expiry. Without the key nobody
 * can make a signature, and a captured one is good for SIGNATURE_TTL_MS on that one path only.
 * The header is `Keel-Peer-Signature: <expires epoch ms>.<hex HMAC>`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../primitives/clock.js';
import type { SharedSecrets } from '../storage/shared-secrets.js';

export const PEER_SIGNATURE_HEADER = 'keel-peer-signature';
/** How long a signature is good for: one request starts well within it. */
const SIGNATURE_TTL_MS = 30_000;
/** A signature expiring further in the future than this was not made by a replica (or its clock is far off). */
const MAX_AHEAD_MS = 5 * 60_000;

export class PeerAuth {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly secrets: SharedSecrets,
    private readonly clock: Clock,
  ) {}

  /** The header value that lets `method` `pathAndQuery` through on a peer. */
  async sign(method: string, pathAndQuery: string): Promise<string> {
    const expires = this.clock.now() + SIGNATURE_TTL_MS;
    return `${expires}.${mac(await this.sharedKey(), method, pathAndQuery, expires)}`;
  }

  /** Whether `header` is a signature of this very request that has not expired. */
  async verify(method: string, pathAndQuery: string, header: string | undefined): Promise<boolean> {
    const match = header === undefined ? null : /^(\d{1,16})\.([0-9a-f]{64})$/.exec(header);
    if (!match) return false;
    const expires = Number(match[1]);
    const now = this.clock.now();
    if (!(expires > now && expires <= now + MAX_AHEAD_MS)) return false;
    const expected = Buffer.from(mac(await this.sharedKey(), method, pathAndQuery, expires), 'hex');
    return timingSafeEqual(expected, Buffer.from(match[2] as string, 'hex'));
  }

  /** Read (or made by the first replica) once per process; a failed read is tried again next time. */
  private sharedKey(): Promise<Buffer> {
    this.key ??= this.secrets.getOrCreate('peer-key', () => randomBytes(32).toString('base64url')).then(
      (value) => Buffer.from(value, 'base64url'),
      (err: unknown) => {
        this.key = undefined;
        throw err;
      },
    );
    return this.key;
  }
}

function mac(key: Buffer, method: string, pathAndQuery: string, expires: number): string {
  return createHmac('sha256', key).update(`${method.toUpperCase()}\n${pathAndQuery}\n${expires}`).digest('hex');
}
