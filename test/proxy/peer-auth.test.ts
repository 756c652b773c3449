// Signatures of the peer path: made and checked with the key replicas share through the index.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { PeerAuth } from '../../src/proxy/peer-auth.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import type { IndexSet } from '../../src/storage/index-set.js';
import { ManualClock } from '../support/manual-clock.js';

const PATH = '/_keel/peer/v1/downloads/up/sha256:0123?from=0';
let dir: string;
let opened: IndexSet[];
let clock: ManualClock;

function onIndex(file: string): PeerAuth {
  const set = sqliteIndexes(openDatabase(join(dir, file)), { clock });
  opened.push(set);
  return new PeerAuth(set.secrets, clock);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-peer-auth-'));
  opened = [];
  clock = new ManualClock(5_000_000);
});
afterEach(async () => {
  for (const set of opened) await set.close();
  await rm(dir, { recursive: true, force: true });
});

describe('peer signatures', () => {
  test('a replica on the same index accepts another\'s signature of that very request, and nothing else', async () => {
    const a = onIndex('index.db');
    const b = onIndex('index.db');
    const signature = await a.sign('GET', PATH);
    expect(await b.verify('GET', PATH, signature)).toBe(true);
    expect(await b.verify('HEAD', PATH, signature)).toBe(false);
    expect(await b.verify('GET', PATH.replace('from=0', 'from=1'), signature)).toBe(false);
    expect(await b.verify('GET', PATH.replace('up', 'other'), signature)).toBe(false);
    const [expires, mac] = signature.split('.') as [string, string];
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('0') ? '1' : '0'}`;
    expect(await b.verify('GET', PATH, `${expires}.${flipped}`)).toBe(false);
    // A later expiry with the same MAC: the expiry is signed too.
    expect(await b.verify('GET', PATH, `${Number(expires) + 1}.${mac}`)).toBe(false);
    for (const junk of [undefined, '', 'x', `${expires}`, `${expires}.`, `${expires}.${mac}0`, `-1.${mac}`]) expect(await b.verify('GET', PATH, junk)).toBe(false);
  });

  test('a signature expires; one claiming to last far into the future is refused', async () => {
    const a = onIndex('index.db');
    const signature = await a.sign('GET', PATH);
    clock.advance(29_999);
    expect(await a.verify('GET', PATH, signature)).toBe(true);
    clock.advance(1);
    expect(await a.verify('GET', PATH, signature)).toBe(false);

    // Signed by a clock 10 minutes ahead: not accepted now.
    const ahead = new PeerAuth(opened[0]!.secrets, { now: () => clock.now() + 10 * 60_000 });
    expect(await a.verify('GET', PATH, await ahead.sign('GET', PATH))).toBe(false);
  });

  test('another index has another key', async () => {
    const a = onIndex('one.db');
    const stranger = onIndex('two.db');
    expect(await stranger.verify('GET', PATH, await a.sign('GET', PATH))).toBe(false);
  });
});
