/**
 * Access tokens as JWTs (ES256, via jose): `sub` the user ('' for anonymous), `aud` the
 * service, `access` the granted scopes, a short lifetime from auth.token_ttl. Verification
 * checks signature, issuer, audience and expiry against the injected clock.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../primitives/clock.js';
import type { AccessEntry } from './scope.js';
import type { SigningKey } from './signing-key.js';

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export interface TokenClaims {
  user: string | undefined;
  access: AccessEntry[];
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly options: { issuer: string; service: string; ttlMs: number },
    private readonly clock: Clock,
  ) {}

  async issue(user: string | undefined, access: AccessEntry[]): Promise<IssuedToken> {
    const now = Math.floor(this.clock.now() / 1000);
    const ttl = Math.max(1, Math.round(this.options.ttlMs / 1000));
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(this.options.issuer)
      .setSubject(user ?? '')
      .setAudience(this.options.service)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** The token's claims, or undefined when it is not a valid, current token of this server. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        issuer: this.options.issuer,
        audience: this.options.service,
        algorithms: ['ES256'],
        currentDate: new Date(this.clock.now()),
      });
      const access = Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [];
      return { user: payload.sub ? payload.sub : undefined, access };
    } catch {
      return undefined;
    }
  }
}
