/**
 * GC of a Keel whose stores are in a real S3 bucket (Ceph RGW, test/support/s3-server.ts):
 * with garbage of every kind in the bucket, a dry run changes nothing (the bucket's listing,
 * its multipart uploads and the index stay byte for byte) and reports what the real run then
 * removes; the real run removes exactly the unreferenced objects and abandoned multipart
 * uploads older than the grace period, keeps the fresh ones and everything referenced, and its
 * byte count is what left the bucket. The proxy store on S3 is evicted by age.
 *
 * Times: the index's rows carry the injected clock, the bucket's objects RGW's own
 * Last-Modified (wall time, whole seconds on HEAD). The test reads the Last-Modified of what it
 * wrote and sets the clock so that the grace cutoff falls between the old objects and the
 * fresh ones; writing the fresh ones waits for the wall clock to pass the old ones' second
 * (a condition, not a margin).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { runGc } from '../../src/gc/run-gc.js';
import type { GcSummary } from '../../src/gc/summary.js';
import { encodeState } from '../../src/storage/s3/upload-state.js';
import { keelS3Storage, type S3Storage } from '../support/keel-on-s3.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { s3Admin } from '../support/s3-admin.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MiB = 1024 ** 2;

let s3: S3Server;
let admin: S3Client;

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 1024 ** 3 });
  admin = s3Admin(s3);
}, 120_000);
afterAll(async () => {
  admin?.destroy();
  await s3?.stop();
});

interface Listed {
  size: number;
  etag: string;
  modified: number;
}

/** Every object of the bucket: key → size, ETag, Last-Modified. */
async function objects(bucket: string): Promise<Map<string, Listed>> {
  const out = new Map<string, Listed>();
  let token: string | undefined;
  do {
    const r = await admin.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of r.Contents ?? []) out.set(o.Key ?? '', { size: o.Size ?? 0, etag: o.ETag ?? '', modified: o.LastModified?.getTime() ?? 0 });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** The multipart uploads in progress: "key uploadId" → initiated. */
async function multiparts(bucket: string): Promise<Map<string, number>> {
  const r = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return new Map((r.Uploads ?? []).map((u) => [`${u.Key ?? ''} ${u.UploadId ?? ''}`, u.Initiated?.getTime() ?? 0]));
}

const put = (bucket: string, key: string, body: Buffer): Promise<unknown> => admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));

/** A multipart upload under `key` with one part of `size` bytes, never completed. */
async function abandonedMultipart(bucket: string, key: string, size: number): Promise<string> {
  const created = await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const uploadId = created.UploadId as string;
  const body = randomBytes(size);
  await admin.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: body, ContentLength: body.length }));
  return uploadId;
}

const blobKey = (prefix: string, digest: string): string => {
  const hex = digest.slice('sha256:'.length);
  return `${prefix}/blobs/sha256/${hex.slice(0, 2)}/${hex}`;
};

/** Resolves once the wall clock is in a later second than `modified` (Last-Modified has whole seconds). */
async function nextSecondAfter(modified: number): Promise<void> {
  const next = Math.floor(modified / 1000) * 1000 + 1000;
  while (Date.now() < next) await new Promise((r) => setTimeout(r, next - Date.now()));
}

/** Pulls every blob of an image through Keel, following the 307 to the bucket; true when all match. */
async function pullable(client: Client, repo: string, ref: string): Promise<boolean> {
  const res = await client.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
  if (res.status !== 200) return false;
  const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const d of [manifest.config, ...manifest.layers]) {
    let blob = await client.fetch(`/v2/${repo}/blobs/${d.digest}`);
    if (blob.status === 307) blob = await fetch(blob.headers.get('location') as string);
    if (blob.status !== 200 || sha256(Buffer.from(await blob.arrayBuffer())) !== d.digest) return false;
  }
  return true;
}

function withGc(storage: S3Storage, gc: string): string {
  return storage.toml.replace('[s3]', `${gc}\n[s3]`);
}

const sumSizes = (keys: Iterable<string>, listing: Map<string, Listed>): number => [...keys].reduce((n, k) => n + (listing.get(k)?.size ?? 0), 0);

describe('registry GC on S3', () => {
  let keel: KeelProcess;
  let storage: S3Storage;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = new ManualClock();
    storage = await keelS3Storage(s3);
    keel = await startKeel({ clock, toml: withGc(storage, '[gc]\ngrace = "1h"\nupload_max_age = "1h"\n') });
  }, 60_000);
  afterAll(() => keel?.destroy());

  test('removes unreferenced objects and abandoned multipart uploads past the grace period, keeps the rest; a dry run first removes nothing and reports the same', async () => {
    const { bucket } = storage;
    const client = new Client(keel.url);
    const gc = (dryRun: boolean): Promise<GcSummary> =>
      runGc(keel.config, { stores: 'registry', dryRun, deleteUntagged: true, list: true }, { clock, logger: pino({ level: 'silent' }) });

    // Garbage of every kind, old: a deleted image's manifest and blobs, an untagged image, an
    // abandoned upload session (index row and bucket), a session the index does not know,
    // content the index does not know, an abandoned multipart upload, a dead writer's pieces,
    // a trash copy an interrupted GC left.
    const kept = await client.pushImage('gc/kept', 'v1');
    const deleted = await client.pushImage('gc/deleted', 'v1');
    expect((await client.fetch(`/v2/gc/deleted/manifests/${deleted.digest}`, { method: 'DELETE' })).status).toBe(202);
    const untagged = await client.pushImage('gc/untagged', 'v1');
    await client.pushImage('gc/untagged', 'v1'); // v1 moves on: the first manifest is untagged
    const session = await client.fetch('/v2/gc/upload/blobs/uploads/', { method: 'POST' });
    const location = session.headers.get('location') as string;
    expect((await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-999' }, body: randomBytes(1000) })).status).toBe(202);
    const strayPiece = randomBytes(2000);
    await put(bucket, 'registry/uploads/stray-session/p/00000-abcdef12', strayPiece);
    await put(bucket, 'registry/uploads/stray-session/state', encodeState({ version: 1, size: strayPiece.length, pieces: [{ key: 'registry/uploads/stray-session/p/00000-abcdef12', size: strayPiece.length }] }));
    const crash = Buffer.from('left by a crash between write and index');
    await put(bucket, blobKey('registry', sha256(crash)), crash);
    const assembling = sha256(randomBytes(32));
    const oldUpload = await abandonedMultipart(bucket, blobKey('registry', assembling), MiB);
    await put(bucket, `registry/ingest/${randomUUID()}/00000`, randomBytes(3000));
    await put(bucket, `registry/trash/sha256/${sha256('x').slice(7)}/${randomUUID()}`, randomBytes(400));

    const old = await objects(bucket);
    const newestOld = Math.max(...[...old.values()].map((o) => o.modified), ...(await multiparts(bucket)).values());
    await nextSecondAfter(newestOld);

    // Fresh: content the index does not know, a multipart upload and a writer's pieces, all
    // written after the cutoff.
    const fresh = Buffer.from('written just now, not yet indexed');
    const freshKey = blobKey('registry', sha256(fresh));
    await put(bucket, freshKey, fresh);
    const cutoff = (await objects(bucket)).get(freshKey)?.modified as number;
    const freshUploadKey = blobKey('registry', sha256(randomBytes(32)));
    const freshUpload = `${freshUploadKey} ${await abandonedMultipart(bucket, freshUploadKey, MiB)}`;
    const freshIngest = `registry/ingest/${randomUUID()}/00000`;
    await put(bucket, freshIngest, randomBytes(500));
    // GC's "now" is one grace period after the fresh object: the cutoff is its Last-Modified.
    clock.advance(cutoff + HOUR - clock.now());
    // Unreferenced but pushed within the grace period (its index row has the clock's time).
    const young = await client.pushBlob('gc/kept', randomBytes(700));

    const dbBefore = createHash('sha256').update(await readFile(keel.config.database)).digest('hex');
    const before = await objects(bucket);
    const uploadsBefore = await multiparts(bucket);
    const staleUpload = `${blobKey('registry', assembling)} ${oldUpload}`;
    expect([...uploadsBefore.keys()].sort()).toEqual([staleUpload, freshUpload].sort());

    const dry = await gc(true);
    expect(await objects(bucket)).toEqual(before);
    expect(await multiparts(bucket)).toEqual(uploadsBefore);
    expect(createHash('sha256').update(await readFile(keel.config.database)).digest('hex')).toBe(dbBefore);
    const registry = dry.stores[0];
    // orphans: stray session, crash content, multipart, ingest dir, trash copy
    expect(registry).toMatchObject({ store: 'registry', manifests: 1, repositories: 1, uploads: 1, orphans: 5, keptByGrace: { blobs: 1, bytes: 700, manifests: 0 } });

    const real = await gc(false);
    expect(real.stores).toEqual(dry.stores);
    expect(real.items).toEqual(dry.items);

    const after = await objects(bucket);
    const removed = [...before.keys()].filter((k) => !after.has(k));
    expect([...after.keys()].filter((k) => !before.has(k))).toEqual([]);
    // Exactly the old garbage went: the deleted and the untagged image's own blobs and
    // manifests, the sessions' pieces and states, the crash content, the pieces, the trash.
    const ownBlobs = (image: { digest: string; blobs: Array<{ digest: string }> }): string[] => [image.digest, ...image.blobs.map((b) => b.digest)].map((d) => blobKey('registry', d));
    const expected = [
      ...ownBlobs(deleted),
      ...ownBlobs(untagged),
      blobKey('registry', sha256(crash)),
      ...[...before.keys()].filter((k) => k.startsWith('registry/uploads/') || (k.startsWith('registry/ingest/') && k !== freshIngest) || k.startsWith('registry/trash/')),
    ].sort();
    expect(removed.sort()).toEqual(expected);
    expect(after.has(freshKey)).toBe(true);
    expect(after.has(freshIngest)).toBe(true);
    expect(after.has(blobKey('registry', young.digest))).toBe(true);
    for (const key of ownBlobs(kept)) expect([key, after.has(key)]).toEqual([key, true]);
    expect([...(await multiparts(bucket)).keys()]).toEqual([freshUpload]);

    // The bytes GC reports are the bytes that left the bucket: removed objects (but the
    // sessions' state objects, which are bookkeeping) and the aborted multipart upload's part.
    const states = removed.filter((k) => /\/uploads\/[^/]+\/state$/.test(k));
    expect(real.stores[0]?.bytes).toBe(sumSizes(removed, before) - sumSizes(states, before) + MiB);

    expect(await pullable(client, 'gc/kept', 'v1')).toBe(true);
    expect((await client.fetch(location)).status).toBe(404);
    expect((await client.fetch('/v2/gc/deleted/tags/list')).status).toBe(404);
    // Nothing left to do.
    const again = await gc(true);
    expect(again.stores.map((s) => s.blobs + s.manifests + s.links + s.uploads + s.orphans + s.repositories)).toEqual([0]);
    await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: freshUploadKey, UploadId: freshUpload.split(' ')[1] }));
  }, 120_000);
});

describe('proxy GC on S3', () => {
  // The upstream is a Keel on disk: a real registry on loopback.
  let upstream: KeelProcess;
  let keel: KeelProcess;
  let storage: S3Storage;
  let clock: ManualClock;
  beforeAll(async () => {
    upstream = await startKeel();
    clock = new ManualClock();
    storage = await keelS3Storage(s3, { redirect: false });
    keel = await startKeel({ clock, toml: withGc(storage, `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\n[gc]\ngrace = "1h"\n`) });
  }, 60_000);
  afterAll(async () => {
    await keel?.destroy();
    await upstream?.destroy();
  });

  const cacheImage = async (client: Client, up: Client, repo: string): Promise<string[]> => {
    const image = await up.pushImage(repo, 'v1');
    await pullThrough(client, repo, image.blobs.map((b) => b.digest));
    return [image.digest, ...image.blobs.map((b) => b.digest)];
  };
  const pullThrough = async (client: Client, repo: string, blobs: string[]): Promise<void> => {
    expect((await client.fetch(`/v2/proxy/up/${repo}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    for (const digest of blobs) {
      const res = await client.fetch(`/v2/proxy/up/${repo}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
    }
  };

  test('images not read for max_age leave the bucket, recent ones and fresh unknown content stay; old unknown content goes', async () => {
    const { bucket } = storage;
    const client = new Client(keel.url);
    const up = new Client(upstream.url);
    const old = await cacheImage(client, up, 'lib/old');
    const orphan = Buffer.from('a proxy download that died before its row');
    await put(bucket, blobKey('proxy', sha256(orphan)), orphan);
    const listed = await objects(bucket);
    await nextSecondAfter(Math.max(...[...listed.values()].map((o) => o.modified)));
    const fresh = Buffer.from('a proxy download in flight');
    const freshKey = blobKey('proxy', sha256(fresh));
    await put(bucket, freshKey, fresh);
    const cutoff = (await objects(bucket)).get(freshKey)?.modified as number;
    // 40 days after the old image was read; the cutoff (one grace period back) at the fresh object.
    clock.advance(40 * DAY);
    const recent = await cacheImage(client, up, 'lib/recent');
    for (const d of [...old, ...recent]) expect([d, (await objects(bucket)).has(blobKey('proxy', d))]).toEqual([d, true]);

    const config: Config = { ...keel.config, gc: parseConfig('[gc]\ngrace = "1h"\n[gc.proxy]\nmax_age = "30d"\n', 'gc test', keel.root).gc };
    const run = (dryRun: boolean): Promise<GcSummary> =>
      runGc(config, { stores: 'proxy', dryRun, deleteUntagged: false, list: true, grace: clock.now() - cutoff }, { clock, logger: pino({ level: 'silent' }) });
    const before = await objects(bucket);
    const dry = await run(true);
    expect(await objects(bucket)).toEqual(before);
    const real = await run(false);
    expect(real.stores).toEqual(dry.stores);
    expect(real.stores[0]).toMatchObject({ store: 'proxy', tags: 1, manifests: 1, blobs: old.length - 1, orphans: 1 });

    const after = await objects(bucket);
    const removed = [...before.keys()].filter((k) => !after.has(k)).sort();
    expect(removed).toEqual([...old, sha256(orphan)].map((d) => blobKey('proxy', d)).sort());
    expect(real.stores[0]?.bytes).toBe(sumSizes(removed, before));
    for (const d of recent) expect(after.has(blobKey('proxy', d))).toBe(true);
    expect(after.has(freshKey)).toBe(true);
    // Evicted content is fetched again on the next pull.
    await pullThrough(client, 'lib/old', old.slice(1));
    const refetched = await objects(bucket);
    for (const d of old) expect(refetched.has(blobKey('proxy', d))).toBe(true);
  }, 120_000);
});
