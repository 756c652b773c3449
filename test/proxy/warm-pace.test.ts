/**
 * Warming's pace (warm-pace.ts): downloads warming starts read the upstream no faster than
 * `proxy.warm.bandwidth`, trickle while a client's own download runs, and go at full speed
 * once a client's pull joins them. The cap and the trickle are shown by lower bounds on the
 * time a warm takes (a token bucket cannot hand out bytes faster, however idle or loaded the
 * machine), the join with a cap of one byte a second, under which the layer could never
 * arrive while the test runs: it arrives because the client joined.
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

const MiB = 1024 * 1024;
let upstream: FaultServer;
const keels: KeelProcess[] = [];
/** Checks re-run whenever a blob GET reaches the upstream. */
const waiting: Array<() => boolean> = [];
const blobGets: string[] = [];

interface Image {
  manifest: Buffer;
  blobs: Buffer[];
}

/** An image of a tiny config and one layer of `layerSize` random bytes. */
function image(layerSize: number): Image {
  const config = Buffer.from('{}');
  const layer = randomBytes(layerSize);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { manifest, blobs: [config, layer] };
}

const images = new Map<string, Image>([
  ['capped/app', image(3 * MiB)],
  ['joined/app', image(4 * MiB)],
  ['trickle/app', image(2 * MiB)],
  // A client's pull of this repository's blobs is held upstream until the test releases it.
  ['held/live', image(1024)],
]);
const held: ServerResponse[] = [];

function answer(res: ServerResponse, method: string, type: string, body: Buffer, digest?: string): void {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length), ...(digest ? { 'Docker-Content-Digest': digest } : {}) });
  res.end(method === 'HEAD' ? undefined : body);
}

function whenGot(digest: string): Promise<void> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      if (!blobGets.includes(digest)) return false;
      resolve();
      return true;
    };
    if (!check()) waiting.push(check);
  });
}

const warm = (keel: KeelProcess, reference: string): Promise<Array<{ event: string; [key: string]: unknown }>> =>
  fetch(`${keel.url}/api/v1/warm`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ references: [reference] }) })
    .then((res) => res.text())
    .then((text) => text.trim().split('\n').map((l) => JSON.parse(l) as { event: string }));

const keel = async (bandwidth: string): Promise<KeelProcess> => {
  const started = await startKeel({ toml: `[proxy.warm]\nbandwidth = "${bandwidth}"\n\n[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\ntimeout = "60s"\n` });
  keels.push(started);
  return started;
};

beforeAll(async () => {
  upstream = await startFaultServer((req, res) => {
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
    const found = m ? images.get(m[1] as string) : undefined;
    if (!m || !found) return void res.writeHead(req.url === '/v2/' ? 200 : 404).end();
    if (m[2] === 'manifests') return answer(res, req.method ?? 'GET', OCI_MANIFEST, found.manifest, sha256(found.manifest));
    const blob = found.blobs.find((b) => sha256(b) === m[3]);
    if (!blob) return void res.writeHead(404).end();
    if (m[1] === 'held/live' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) });
      res.flushHeaders();
      held.push(Object.assign(res, { body: blob }));
    } else answer(res, req.method ?? 'GET', 'application/octet-stream', blob);
    if (req.method === 'GET') {
      blobGets.push(m[3] as string);
      for (const check of waiting.splice(0)) if (!check()) waiting.push(check);
    }
  });
});

afterAll(async () => {
  await Promise.all(keels.map((k) => k.destroy()));
  await upstream?.stop();
});

test('under a 1 MiB/s cap, warming 3 MiB takes at least 2 s (a burst of one second\'s worth, then the cap)', async () => {
  const capped = await keel('1MiB/s');
  const start = performance.now();
  const events = await warm(capped, 'proxy/up/capped/app:v1');
  const elapsed = performance.now() - start;
  expect(events[events.length - 1]).toMatchObject({ event: 'summary', failed: 0, images: [{ fetched: { blobs: 2, bytes: 3 * MiB + 2 } }] });
  // (3 MiB + 2 bytes - at most 1 MiB already in the bucket) / 1 MiB/s; the bucket's own
  // clock rounds to the millisecond.
  expect(elapsed).toBeGreaterThanOrEqual(2000 - 5);
  // Stored whole: a pull is a cache hit with the right bytes.
  const layer = (images.get('capped/app') as Image).blobs[1] as Buffer;
  const res = await fetch(`${capped.url}/v2/proxy/up/capped/app/blobs/${sha256(layer)}`);
  expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(layer));
}, 60_000);

test('a client pulling a blob warming is downloading under the cap gets it at full speed (1 byte/s would take weeks)', async () => {
  const crawling = await keel('1');
  const { blobs } = images.get('joined/app') as Image;
  const [config, layer] = blobs as [Buffer, Buffer];
  const warming = warm(crawling, 'proxy/up/joined/app:v1');
  await whenGot(sha256(layer));
  await whenGot(sha256(config));
  // The client pulls the image's blobs as docker would; both join the crawling downloads.
  const pulled = await Promise.all(
    [config, layer].map(async (b) => {
      const res = await fetch(`${crawling.url}/v2/proxy/up/joined/app/blobs/${sha256(b)}`);
      return { status: res.status, digest: sha256(Buffer.from(await res.arrayBuffer())) };
    }),
  );
  expect(pulled).toEqual([
    { status: 200, digest: sha256(config) },
    { status: 200, digest: sha256(layer) },
  ]);
  const events = await warming;
  expect(events[events.length - 1]).toMatchObject({ event: 'summary', failed: 0, images: [{ fetched: { blobs: 2 } }] });
  // One download each: the client joined warming's, it did not start its own.
  expect(blobGets.filter((d) => d === sha256(layer))).toHaveLength(1);
}, 60_000);

test('while a client\'s own download runs, warming\'s downloads trickle (1 MiB/s together) instead of competing, and still end', async () => {
  const uncapped = await keel('0');
  const [, live] = (images.get('held/live') as Image).blobs as [Buffer, Buffer];
  const [, layer] = (images.get('trickle/app') as Image).blobs as [Buffer, Buffer];
  // A client's cold pull, held by the upstream: a live download runs for as long as the test says.
  const pull = fetch(`${uncapped.url}/v2/proxy/up/held/live/blobs/${sha256(live)}`).then(async (res) => sha256(Buffer.from(await res.arrayBuffer())));
  await whenGot(sha256(live));
  const layerAsked = whenGot(sha256(layer)).then(() => performance.now());
  const events = await warm(uncapped, 'proxy/up/trickle/app:v1');
  const ended = performance.now();
  // The warm ended with the client's download still held: warming trickled, it did not stop.
  expect(held).toHaveLength(1);
  expect(events[events.length - 1]).toMatchObject({ event: 'summary', failed: 0, images: [{ fetched: { blobs: 2, bytes: 2 * MiB + 2 } }] });
  // (2 MiB - at most one 64 KiB piece in the bucket) / 1 MiB/s, from the layer's GET on.
  expect(ended - (await layerAsked)).toBeGreaterThanOrEqual(((2 * MiB - 64 * 1024) / MiB) * 1000 - 5);
  for (const res of held.splice(0)) res.end((res as ServerResponse & { body: Buffer }).body);
  expect(await pull).toBe(sha256(live));
}, 60_000);
