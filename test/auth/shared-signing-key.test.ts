/**
 * The token signing key on a shared index (signing-key.ts sharedSigningKey), through the
 * SQLite implementation of SharedSecrets on one index file opened twice (two replicas):
 * every replica ends up with the one key the first stored, seeded from its auth.signing_key
 * file when it had one, generated otherwise, and a token one issues the other accepts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { sharedSigningKey, type SigningKey } from '../../src/auth/signing-key.js';
import { TokenIssuer } from '../../src/auth/tokens.js';
import { StartupError } from '../../src/config/errors.js';
import type { IndexSet } from '../../src/storage/index-set.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import { ManualClock } from '../support/manual-clock.js';

let dir: string;
let clock: ManualClock;
let a: IndexSet;
let b: IndexSet;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-shared-key-'));
  clock = new ManualClock();
  a = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock });
  b = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock });
});
afterEach(async () => {
  await a.close();
  await b.close();
  await rm(dir, { recursive: true, force: true });
});

const pemOf = (key: SigningKey): string => key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

function ecPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

const issuer = (key: SigningKey): TokenIssuer => new TokenIssuer(key, { issuer: 'keel', service: 'keel', ttlMs: 300_000 }, clock);

describe('the signing key on a shared index', () => {
  test('without key files: the first replica creates it in the index (not on disk), the second reads it, and tokens cross', async () => {
    const first = await sharedSigningKey(a.secrets, join(dir, 'a-key.pem'));
    const second = await sharedSigningKey(b.secrets, join(dir, 'b-key.pem'));
    expect(first.origin).toBe('index, created');
    expect(second.origin).toBe('index');
    expect(pemOf(second.key)).toBe(pemOf(first.key));
    expect(existsSync(join(dir, 'a-key.pem'))).toBe(false);
    const { token } = await issuer(first.key).issue('alice', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect((await issuer(second.key).verify(token))?.user).toBe('alice');
  });

  test("the first replica's key file seeds the index; a replica with another file uses the index's key, and says so", async () => {
    const seed = ecPem();
    await writeFile(join(dir, 'a-key.pem'), seed);
    await writeFile(join(dir, 'b-key.pem'), ecPem());
    const first = await sharedSigningKey(a.secrets, join(dir, 'a-key.pem'));
    expect(first).toMatchObject({ origin: 'index, seeded from the file', fileDiffers: false });
    expect(pemOf(first.key)).toBe(seed);
    const second = await sharedSigningKey(b.secrets, join(dir, 'b-key.pem'));
    expect(second).toMatchObject({ origin: 'index', fileDiffers: true });
    // Both sign with the seeded key: a token made with the file's key verifies on the second replica.
    const { token } = await issuer(first.key).issue(undefined, []);
    expect(await issuer(second.key).verify(token)).toBeDefined();
    // A replica on another index has another key: its tokens are refused here.
    const other = sqliteIndexes(openDatabase(join(dir, 'other.db')), { clock });
    try {
      const foreign = await issuer((await sharedSigningKey(other.secrets, join(dir, 'b-key.pem'))).key).issue(undefined, []);
      expect(await issuer(second.key).verify(foreign.token)).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  test('a key file that cannot seed the index is a start-up error naming auth.signing_key', async () => {
    await writeFile(join(dir, 'bad.pem'), 'not a key');
    const err = await sharedSigningKey(a.secrets, join(dir, 'bad.pem')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toMatch(/^auth\.signing_key ".*bad\.pem": is not a private key in PEM/);
  });
});
