/**
 * Sessions of the web UI: after a sign-in with the htpasswd users, the browser holds a JWT
 * (ES256, via jose, signed with the token signing key, so every replica accepts it) in an
 * HttpOnly, SameSite=Strict cookie. Its audience is `<service>:ui`: an access token for /v2
 * is not a session, and a session is not an access token. It carries the user and a random
 * CSRF secret; every form the UI writes for that session holds the secret, and every state
 * change must send it back (csrfMatches), besides coming from the same origin.
 *
 * A session is checked against the users in force on every request (a user removed from the
 * htpasswd file is signed out at once), and what it may do is the access rules' answer at
 * that moment. Sessions are stateless: signing out clears the cookie; a copy of it stays
 * valid until it expires (auth.ui_session_ttl).
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../primitives/clock.js';
import type { SigningKey } from './signing-key.js';

export interface UiSession {
  user: string;
  /** The secret every form of this session carries back (hex). */
  csrf: string;
  /** When the session ends (ms since the epoch). */
  expiresAt: number;
}

export interface UiSessionOptions {
  issuer: string;
  service: string;
  ttlMs: number;
}

export class UiSessions {
  constructor(
    private readonly key: SigningKey,
    private readonly options: UiSessionOptions,
    private readonly clock: Clock,
    /** Whether a user is still one of the htpasswd users (they may be replaced while Keel runs). */
    private readonly isUser: (user: string) => boolean,
  ) {}

  private get audience(): string {
    return `${this.options.service}:ui`;
  }

  /** A new session of `user`: the cookie's value and what it holds. */
  async issue(user: string): Promise<{ cookie: string; session: UiSession }> {
    const now = Math.floor(this.clock.now() / 1000);
    const ttl = Math.max(60, Math.round(this.options.ttlMs / 1000));
    const csrf = randomBytes(24).toString('hex');
    const cookie = await new SignJWT({ csrf })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(this.options.issuer)
      .setSubject(user)
      .setAudience(this.audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { cookie, session: { user, csrf, expiresAt: (now + ttl) * 1000 } };
  }

  /** The session a cookie holds, or undefined when it is not a current session of a current user. */
  async verify(cookie: string | undefined): Promise<UiSession | undefined> {
    if (cookie === undefined || cookie === '' || cookie.length > 4096) return undefined;
    try {
      const { payload } = await jwtVerify(cookie, this.key.publicKey, {
        issuer: this.options.issuer,
        audience: this.audience,
        algorithms: ['ES256'],
        currentDate: new Date(this.clock.now()),
      });
      const user = payload.sub;
      const csrf = payload.csrf;
      if (typeof user !== 'string' || user === '' || typeof csrf !== 'string' || typeof payload.exp !== 'number') return undefined;
      if (!this.isUser(user)) return undefined;
      return { user, csrf, expiresAt: payload.exp * 1000 };
    } catch {
      return undefined;
    }
  }
}

/** Whether a form's CSRF field is the session's secret (in constant time). */
export function csrfMatches(expected: string, sent: unknown): boolean {
  if (typeof sent !== 'string' || sent.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(expected));
}
