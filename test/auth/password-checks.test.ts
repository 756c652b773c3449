/**
 * Password checks: the same bcrypt work for unknown and known users (no timing oracle), on
 * worker threads with a bounded queue (no event loop starvation), successes remembered on
 * the injected clock, failures rate-limited per client and per user with 429 + Retry-After.
 * Nothing here measures wall-clock time: work is counted, threads are named, events ordered.
 */
import { join } from 'node:path';
import { threadId as mainThreadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { BcryptPool, PasswordChecksBusy, type PasswordVerifier } from '../../src/auth/bcrypt-pool.js';
import { createAuth } from '../../src/auth/create-auth.js';
import { Htpasswd } from '../../src/auth/htpasswd.js';
import { parseConfig } from '../../src/config/load.js';
import { pino } from 'pino';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';

/** The real pool, counting the comparisons it is asked for and the hashes they use. */
class CountingVerifier implements PasswordVerifier {
  readonly hashes: string[] = [];
  constructor(private readonly inner: PasswordVerifier) {}
  compare(password: string, hash: string): Promise<boolean> {
    this.hashes.push(hash);
    return this.inner.compare(password, hash);
  }
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

describe('Htpasswd', () => {
  const pool = new BcryptPool({ workers: 1, maxQueued: 16 });
  afterAll(() => pool.close());

  test('an unknown user costs one bcrypt comparison, against a hash of the highest cost in the file', async () => {
    const root = await rootWithUsers('keel-passwords', { alice: { password: 'a-pass', cost: 5 }, bob: { password: 'b-pass', cost: 6 } });
    const verifier = new CountingVerifier(pool);
    const users = Htpasswd.load(join(root, 'htpasswd'), { verifier, clock: new ManualClock(), rememberMs: 60_000 });
    expect(await users.verify('nobody', 'a-pass')).toBe(false);
    expect(verifier.hashes).toHaveLength(1);
    expect(verifier.hashes[0]).toMatch(/^\$2[aby]\$06\$/);
    expect(await users.verify('bob', 'wrong')).toBe(false);
    expect(verifier.hashes).toHaveLength(2);
    expect(verifier.hashes[1]).toMatch(/^\$2[aby]\$06\$/);
    // The dummy hash is nobody's password: trying a real one against it never signs in.
    expect(await users.verify('nobody', 'b-pass')).toBe(false);
    expect(verifier.hashes).toHaveLength(3);
  });

  test('a success is remembered until the injected clock passes its time; a failure never is', async () => {
    const root = await rootWithUsers('keel-passwords', { alice: { password: 'a-pass', cost: 4 } });
    const verifier = new CountingVerifier(pool);
    const clock = new ManualClock();
    const users = Htpasswd.load(join(root, 'htpasswd'), { verifier, clock, rememberMs: 60_000 });
    expect(await users.verify('alice', 'a-pass')).toBe(true);
    expect(await users.verify('alice', 'a-pass')).toBe(true);
    expect(users.remembers('alice', 'a-pass')).toBe(true);
    expect(verifier.hashes).toHaveLength(1);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(verifier.hashes).toHaveLength(3);
    clock.advance(60_000);
    expect(users.remembers('alice', 'a-pass')).toBe(false);
    expect(await users.verify('alice', 'a-pass')).toBe(true);
    expect(verifier.hashes).toHaveLength(4);
  });
});

describe('BcryptPool', () => {
  test('comparisons run on its worker threads, never on the main thread', async () => {
    const pool = new BcryptPool({ workers: 2, maxQueued: 4 });
    try {
      const hash = await bcrypt.hash('secret', 4);
      const results = await Promise.all([pool.compareOnWorker('secret', hash), pool.compareOnWorker('nope', hash), pool.compareOnWorker('secret', hash)]);
      expect(results.map((r) => r.ok)).toEqual([true, false, true]);
      for (const r of results) {
        expect(r.threadId).not.toBe(mainThreadId);
        expect(pool.threadIds).toContain(r.threadId);
      }
      expect(pool.threadIds).toHaveLength(2);
    } finally {
      await pool.close();
    }
  });

  test('beyond its workers and its queue, a check is refused at once', async () => {
    const pool = new BcryptPool({ workers: 1, maxQueued: 1 });
    try {
      const hash = await bcrypt.hash('secret', 6);
      const running = pool.compare('secret', hash);
      const queued = pool.compare('nope', hash);
      await expect(pool.compare('secret', hash)).rejects.toBeInstanceOf(PasswordChecksBusy);
      expect(await running).toBe(true);
      expect(await queued).toBe(false);
      // Room again once the queue drained.
      expect(await pool.compare('secret', hash)).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('sign-in when every password worker is busy', () => {
  test('a check beyond the queue is "limited" with Retry-After 1, and does not count as a failure', async () => {
    const root = await rootWithUsers('keel-passwords', { alice: { password: 'a-pass', cost: 6 } });
    const config = parseConfig('[auth]\nhtpasswd = "htpasswd"\npassword_workers = 1\npassword_queue = 0\n[auth.failures]\nper_user = 2\n', 'test', root, {}, { listen: '127.0.0.1:0' });
    const auth = await createAuth(config, new ManualClock(), pino({ level: 'silent' }));
    if (!auth) throw new Error('auth should be on');
    try {
      // The first call takes the only worker before it yields; the second finds no room.
      const first = auth.service.signIn('alice', 'a-pass', 'client-a');
      const second = auth.service.signIn('alice', 'a-pass', 'client-b');
      expect(await second).toEqual({ outcome: 'limited', retryAfterSeconds: 1 });
      expect(await first).toEqual({ outcome: 'ok', user: 'alice' });
      // per_user = 2 (attempts count while in flight): had the refused check counted, the second
      // wrong password would already be over the limit.
      expect(await auth.service.signIn('alice', 'wrong', 'client-b')).toEqual({ outcome: 'wrong' });
      expect(await auth.service.signIn('alice', 'wrong', 'client-b')).toEqual({ outcome: 'wrong' });
      expect(await auth.service.signIn('alice', 'wrong-3', 'client-c')).toEqual({ outcome: 'limited', retryAfterSeconds: 300 });
    } finally {
      await auth.close();
    }
  });
});

describe('failed sign-ins are limited, on the injected clock', () => {
  const clock = new ManualClock();
  let keel: KeelProcess;
  const token = (user: string, password: string): Promise<Response> => fetch(`${keel.url}/token?service=keel`, { headers: basic(user, password) });

  beforeAll(async () => {
    const root = await rootWithUsers('keel-passwords', { alice: { password: 'a-pass', cost: 4 }, bob: { password: 'b-pass', cost: 4 }, carol: { password: 'c-pass', cost: 4 } });
    keel = await startKeel({
      root,
      clock,
      toml: `
[auth]
htpasswd = "htpasswd"
[auth.failures]
window = "1m"
per_client = 5
per_user = 3
`,
    });
  }, 60_000);
  afterAll(() => keel.destroy());
  // Each test starts in a fresh window.
  const nextWindow = (): void => clock.advance(61_000);

  test('after per_user failures a user gets 429 with Retry-After, even with the right password, until the window ends', async () => {
    nextWindow();
    for (let i = 0; i < 3; i++) expect((await token('alice', `wrong-${i}`)).status).toBe(401);
    const limited = await token('alice', 'a-pass');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(await errorCode(limited)).toBe('TOOMANYREQUESTS');
    clock.advance(45_000);
    expect((await token('alice', 'a-pass')).headers.get('retry-after')).toBe('15');
    // The POST form of the token endpoint is limited the same way.
    const form = await fetch(`${keel.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'a-pass' }) });
    expect(form.status).toBe(429);
    clock.advance(15_000);
    expect((await token('alice', 'a-pass')).status).toBe(200);
  });

  test('an unknown name is limited exactly like a known one', async () => {
    nextWindow();
    for (let i = 0; i < 3; i++) expect((await token('mallory', `wrong-${i}`)).status).toBe(401);
    const limited = await token('mallory', 'x');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
  });

  test('after per_client failures under any names, the client is refused for every user', async () => {
    nextWindow();
    for (let i = 0; i < 5; i++) expect((await token(`guess-${i}`, 'x')).status).toBe(401);
    const limited = await token('carol', 'c-pass');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    // /api/v1 Basic sign-ins count against the same limits.
    expect((await fetch(`${keel.url}/api/v1/export/any/v1`, { headers: basic('carol', 'c-pass') })).status).toBe(429);
    nextWindow();
    expect((await token('carol', 'c-pass')).status).toBe(200);
  });

  test('a password remembered from a recent success still signs in while its user is limited', async () => {
    nextWindow();
    expect((await token('bob', 'b-pass')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await token('bob', `wrong-${i}`)).status).toBe(401);
    expect((await token('bob', 'wrong-again')).status).toBe(429);
    expect((await token('bob', 'b-pass')).status).toBe(200);
  });
});

describe('a flood of wrong passwords', () => {
  let keel: KeelProcess;

  beforeAll(async () => {
    const root = await rootWithUsers('keel-passwords', { writer: { password: 'w-pass', cost: 4 }, victim: { password: 'v-pass', cost: 8 } });
    keel = await startKeel({
      root,
      toml: `
[auth]
htpasswd = "htpasswd"
password_workers = 1
password_queue = 100
[auth.failures]
per_client = 0
per_user = 0
`,
    });
  }, 60_000);
  afterAll(() => keel.destroy());

  test('does not hold up other requests: /v2/ and a pull answer before the flood is through', async () => {
    const issued = await fetch(`${keel.url}/token?service=keel&scope=repository:app/x:pull,push`, { headers: basic('writer', 'w-pass') });
    const writer = new Client(keel.url, { Authorization: `Bearer ${((await issued.json()) as { token: string }).token}` });
    await writer.pushImage('app/x', 'v1');
    const order: string[] = [];
    let first!: () => void;
    const firstAnswered = new Promise<void>((resolve) => (first = resolve));
    const flood = Array.from({ length: 24 }, (_, i) =>
      fetch(`${keel.url}/token?service=keel`, { headers: basic('victim', `wrong-${i}`) }).then(async (res) => {
        await res.arrayBuffer();
        order.push(`flood:${res.status}`);
        first();
      }),
    );
    // Once one wrong password has been answered, the rest are being checked (or wait for it).
    await firstAnswered;
    const others = [
      writer.fetch('/v2/').then(async (res) => {
        await res.arrayBuffer();
        order.push(`base:${res.status}`);
      }),
      writer.fetch('/v2/app/x/manifests/v1').then(async (res) => {
        await res.arrayBuffer();
        order.push(`pull:${res.status}`);
      }),
    ];
    await Promise.all([...flood, ...others]);
    expect(order.filter((o) => o.startsWith('flood:'))).toEqual(Array(24).fill('flood:401'));
    // Both answered while wrong passwords were still waiting for their answer.
    const lastFlood = order.lastIndexOf('flood:401');
    expect(order.indexOf('base:200')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('base:200')).toBeLessThan(lastFlood);
    expect(order.indexOf('pull:200')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('pull:200')).toBeLessThan(lastFlood);
  });
});
