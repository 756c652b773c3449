/**
 * The UI's session and CSRF plumbing (the sessions themselves: auth/ui-sessions.ts).
 *   - `keel_session`: the signed session, HttpOnly, SameSite=Strict, Path = the UI's prefix
 *     (or /), Secure when the request came over HTTPS; set on sign-in, cleared on sign-out.
 *   - `keel_csrf`: for a browser with no session (auth off, or before signing in), a random
 *     secret of its own, HttpOnly and SameSite=Strict, that its forms send back (double submit).
 * Every state change (sign-in, sign-out, delete) must come from this origin (Origin, and
 * Sec-Fetch-Site where the browser sends it) and carry the form field `csrf` equal to the
 * session's secret, or to the `keel_csrf` cookie without a session.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';
import { csrfMatches, type UiSession, type UiSessions } from '../../auth/ui-sessions.js';
import { RegistryError } from '../../primitives/errors.js';

export const SESSION_COOKIE = 'keel_session';
export const CSRF_COOKIE = 'keel_csrf';

function cookies(req: Request): Record<string, string | undefined> {
  const header = req.headers.cookie;
  return header === undefined || header.length > 8192 ? {} : parseCookie(header);
}

/** The request's session, if it holds a current one. */
export function sessionOf(req: Request, sessions: UiSessions | undefined): Promise<UiSession | undefined> {
  if (sessions === undefined) return Promise.resolve(undefined);
  return sessions.verify(cookies(req)[SESSION_COOKIE]);
}

function cookieOptions(req: Request, prefix: string): { httpOnly: true; sameSite: 'strict'; path: string; secure: boolean } {
  return { httpOnly: true, sameSite: 'strict', path: prefix === '' ? '/' : `${prefix}/`, secure: req.protocol === 'https' };
}

export function setSessionCookie(req: Request, res: Response, prefix: string, value: string, session: UiSession): void {
  res.append('Set-Cookie', stringifySetCookie({ name: SESSION_COOKIE, value, ...cookieOptions(req, prefix), expires: new Date(session.expiresAt) }));
}

export function clearSessionCookie(req: Request, res: Response, prefix: string): void {
  res.append('Set-Cookie', stringifySetCookie({ name: SESSION_COOKIE, value: '', ...cookieOptions(req, prefix), expires: new Date(0) }));
}

/** The secret this browser's forms carry: the session's, or its own `keel_csrf` cookie (set now if it has none). */
export function csrfSecret(req: Request, res: Response, prefix: string, session: UiSession | undefined): string {
  if (session) return session.csrf;
  const existing = cookies(req)[CSRF_COOKIE];
  if (existing !== undefined && /^[0-9a-f]{48}$/.test(existing)) return existing;
  const fresh = randomBytes(24).toString('hex');
  res.append('Set-Cookie', stringifySetCookie({ name: CSRF_COOKIE, value: fresh, ...cookieOptions(req, prefix) }));
  return fresh;
}

/** Throws DENIED unless a state-changing request comes from this origin with the right `csrf` field. */
export function checkStateChange(req: Request, session: UiSession | undefined): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new RegistryError('DENIED', 'this form was sent from another site', undefined, 403);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.get('host')) throw new RegistryError('DENIED', 'this form was sent from another site', undefined, 403);
  } else if (origin === 'null') {
    throw new RegistryError('DENIED', 'this form was sent from an opaque origin', undefined, 403);
  }
  const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
  const expected = session?.csrf ?? cookies(req)[CSRF_COOKIE];
  if (expected === undefined || !csrfMatches(expected, sent)) throw new RegistryError('DENIED', 'the form is out of date or was not sent from this page; reload it and try again', undefined, 403);
}

/** Where to go after signing in: a path of this UI only (never another site), else home. */
export function safeNext(next: unknown, prefix: string): string {
  const home = `${prefix}/`;
  if (typeof next !== 'string' || next.length > 2048) return home;
  if (!next.startsWith(home) || next.startsWith('//') || next.includes('\\')) return home;
  return next;
}
