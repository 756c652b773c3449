/**
 * Warming yields to live traffic: while a client's own download runs, warming goes on one
 * download at a time. The upstream is a hand-written registry on loopback that holds every
 * blob answer until the test lets it go, so which downloads are running at each step is
 * known, not timed.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startHeldRegistry, startKeelBehind, type HeldRegistry } from '../support/held-registry.js';
import type { KeelProcess } from '../support/keel-server.js';
import { OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { Watch, type LogLine } from '../support/watch.js';

let upstream: HeldRegistry;
let keel: KeelProcess;
/** Conditions re-checked whenever a blob GET arrives or a log line is written. */
const watch = new Watch();
let logs: LogLine[] = [];

const live = randomBytes(256 * 1024);
const blobs = [randomBytes(1000), randomBytes(2000), randomBytes(3000), randomBytes(4000)];
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(blobs[0] as Buffer), size: 1000 };
const layers = blobs.slice(1).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(b), size: b.length }));
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }));
// A second image, for the answer that stays silent while its layer downloads.
const slowBlobs = [randomBytes(500), randomBytes(600)];
const slowManifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(slowBlobs[0] as Buffer), size: 500 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(slowBlobs[1] as Buffer), size: 600 }],
  }),
);

const blobGets = (repo: string, n: number): Promise<void> => watch.when(() => upstream.gets(repo) >= n);
const yields = (): number => logs.filter((l) => l.msg === 'warm: yielding to live downloads').length;
const release = (repo: string): void => upstream.release(repo);

beforeAll(async () => {
  upstream = await startHeldRegistry({ 'warm/app': manifest, 'slow/app': slowManifest }, [live, ...blobs, ...slowBlobs], watch);
  ({ keel, logs } = await startKeelBehind(upstream, watch));
});

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

test('while a client downloads, warming runs one download at a time; once it is done, the rest go at once', async () => {
  // A client's miss, held by the upstream: a live download is running.
  const pull = fetch(`${keel.url}/v2/proxy/up/live/app/blobs/${sha256(live)}`).then(async (res) => ({ status: res.status, digest: sha256(Buffer.from(await res.arrayBuffer())) }));
  await blobGets('live/app', 1);

  const warming = fetch(`${keel.url}/api/v1/warm`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ references: ['proxy/up/warm/app:v1'] }) }).then((res) =>
    res.text(),
  );
  // Three of the four blobs may start (the concurrency); two of them wait for the live download.
  await blobGets('warm/app', 1);
  await watch.when(() => yields() >= 2);
  expect(upstream.gets('warm/app')).toBe(1);

  // The live download ends: the waiting two start beside the first (three at a time).
  release('live/app');
  expect(await pull).toEqual({ status: 200, digest: sha256(live) });
  await blobGets('warm/app', 3);
  release('warm/app');
  await blobGets('warm/app', 4);
  release('warm/app');

  const lines = (await warming).trim().split('\n').map((l) => JSON.parse(l) as { event: string; failed?: number; images?: Array<{ fetched: { blobs: number } }> });
  const summary = lines[lines.length - 1];
  expect(summary).toMatchObject({ event: 'summary', failed: 0 });
  expect(summary?.images?.[0]?.fetched.blobs).toBe(4);
});

test('a warm answer says "working" while a download keeps it silent, so clients and proxies keep it open', async () => {
  const res = await fetch(`${keel.url}/api/v1/warm`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ references: ['proxy/up/slow/app:v1'] }) });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      const { value, done: ended } = await reader.read();
      if (ended) throw new Error(`the answer ended early: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
  };
  const events = (): string[] => text.split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { event: string }).event);
  // Both blobs are held upstream: after the image line, only heartbeats until they are released.
  await blobGets('slow/app', 2);
  await readUntil(() => events().includes('working'));
  expect(events().filter((e) => e !== 'working')).toEqual(['image']);
  release('slow/app');
  await readUntil(() => events().includes('summary'));
  expect(events().filter((e) => e !== 'working')).toEqual(['image', 'blob', 'blob', 'summary']);
}, 60_000);
