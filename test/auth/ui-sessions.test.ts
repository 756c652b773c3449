/**
 * Web UI sessions (ui-sessions.ts): a signed cookie naming the user and a CSRF secret, valid
 * until it expires by the injected clock, for a user who is still in the htpasswd file, and
 * never interchangeable with an access token.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/auth/signing-key.js';
import { TokenIssuer } from '../../src/auth/tokens.js';
import { csrfMatches, UiSessions } from '../../src/auth/ui-sessions.js';
import { ManualClock } from '../support/manual-clock.js';

const HOUR = 3_600_000;
let dir: string;
let key: SigningKey;
let other: SigningKey;
const clock = new ManualClock();
const users = new Set(['alice', 'bob']);
const options = { issuer: 'keel', service: 'keel', ttlMs: 8 * HOUR };
let sessions: UiSessions;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-ui-sessions-'));
  key = loadOrCreateSigningKey(join(dir, 'key.pem')).key;
  other = loadOrCreateSigningKey(join(dir, 'other.pem')).key;
  sessions = new UiSessions(key, options, clock, (u) => users.has(u));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a session names its user and a CSRF secret of its own, until it expires', async () => {
  const { cookie, session } = await sessions.issue('alice');
  expect(session).toEqual({ user: 'alice', csrf: expect.stringMatching(/^[0-9a-f]{48}$/), expiresAt: Math.floor(clock.now() / 1000) * 1000 + 8 * HOUR });
  expect(await sessions.verify(cookie)).toEqual(session);
  const second = await sessions.issue('alice');
  expect(second.session.csrf).not.toBe(session.csrf);
  clock.advance(8 * HOUR - 1000);
  expect((await sessions.verify(cookie))?.user).toBe('alice');
  clock.advance(2000);
  expect(await sessions.verify(cookie)).toBeUndefined();
});

test('a user taken out of the htpasswd file is signed out at once', async () => {
  const { cookie } = await sessions.issue('bob');
  expect((await sessions.verify(cookie))?.user).toBe('bob');
  users.delete('bob');
  expect(await sessions.verify(cookie)).toBeUndefined();
  users.add('bob');
});

test('refused: another key, an access token, a tampered or empty cookie', async () => {
  const { cookie } = await sessions.issue('alice');
  expect(await new UiSessions(other, options, clock, () => true).verify(cookie)).toBeUndefined();
  // An access token for /v2, signed by the same key, is not a session (another audience).
  const token = await new TokenIssuer(key, { issuer: 'keel', service: 'keel', ttlMs: HOUR }, clock).issue('alice', []);
  expect(await sessions.verify(token.token)).toBeUndefined();
  const [header, payload, signature] = cookie.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'bob' })).toString('base64url');
  expect(await sessions.verify(`${header}.${forged}.${signature}`)).toBeUndefined();
  for (const bad of [undefined, '', 'x', 'a.b.c', 'x'.repeat(5000)]) expect(await sessions.verify(bad)).toBeUndefined();
});

test('csrfMatches: only the same secret', () => {
  const secret = 'ab'.repeat(24);
  expect(csrfMatches(secret, secret)).toBe(true);
  expect(csrfMatches(secret, 'ab'.repeat(23) + 'ac')).toBe(false);
  expect(csrfMatches(secret, secret.slice(1))).toBe(false);
  expect(csrfMatches(secret, undefined)).toBe(false);
  expect(csrfMatches(secret, ['x'])).toBe(false);
});
