/**
 * A warm request whose client goes away stops before its next blob: the downloads already
 * started finish (and are stored), the blobs not yet started are never asked of the upstream,
 * and the server goes on serving. The upstream holds every blob body until the test lets it
 * go, and each step waits for a fact (a blob GET, a log line), never for time.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startHeldRegistry, startKeelBehind, type HeldRegistry } from '../support/held-registry.js';
import type { KeelProcess } from '../support/keel-server.js';
import { metric } from '../support/metrics-text.js';
import { OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { Watch, type LogLine } from '../support/watch.js';

let upstream: HeldRegistry;
let keel: KeelProcess;
const watch = new Watch();
let logs: LogLine[] = [];

// A config and five layers: with three downloads at a time, three start and three wait.
const blobs = [1000, 2000, 3000, 4000, 5000, 6000].map((n) => randomBytes(n));
const digests = blobs.map(sha256);
const total = blobs.reduce((n, b) => n + b.length, 0);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digests[0], size: 1000 },
    layers: blobs.slice(1).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(b), size: b.length })),
  }),
);
const REF = 'proxy/up/warm/app:v1';

beforeAll(async () => {
  upstream = await startHeldRegistry({ 'warm/app': manifest }, blobs, watch);
  ({ keel, logs } = await startKeelBehind(upstream, watch));
});

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

/** Blob digests the upstream was asked for with a GET, in order. */
const blobsAsked = (): string[] => upstream.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).map((r) => r.path.split('/blobs/')[1] as string);
const logged = (msg: string, match: (l: LogLine) => boolean = () => true): LogLine | undefined => logs.find((l) => l.msg === msg && match(l));

/** POSTs a warm request on a connection of its own (no agent), so destroying it ends just this request. */
function postWarm(body: object): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const text = JSON.stringify(body);
  const req = request(`${keel.url}/api/v1/warm`, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) } });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  req.end(text);
  return { req, response };
}

/** The NDJSON events of a response as they arrive; `until` resolves once one of `event` has come. */
function events(res: IncomingMessage): { seen: Array<{ event: string }>; until(event: string): Promise<void> } {
  const seen: Array<{ event: string }> = [];
  let rest = '';
  const local = new Watch();
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    rest += chunk;
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') seen.push(JSON.parse(line) as { event: string });
    local.changed();
  });
  return { seen, until: (event) => local.when(() => seen.some((e) => e.event === event)) };
}

const metrics = async (): Promise<string> => (await fetch(`${keel.url}/metrics`)).text();

test('a client that disconnects stops the run before its next blob: the three started finish, the three waiting are never asked of the upstream', async () => {
  const { req, response } = postWarm({ references: [REF] });
  const res = await response;
  expect(res.statusCode).toBe(200);
  const answer = events(res);
  await answer.until('image');
  // Three downloads run, held upstream; the other three wait for one of them to end.
  await watch.when(() => upstream.gets('warm/app') >= 3);
  expect(blobsAsked()).toEqual(digests.slice(0, 3));
  // What is pending now: all six blobs (none is stored yet), in one warm run.
  const during = await metrics();
  expect([metric(during, 'keel_warm_pending_blobs'), metric(during, 'keel_warm_pending_bytes'), metric(during, 'keel_warm_requests_in_progress')]).toEqual([6, total, 1]);

  // The client goes away; the server has seen it once it logs the request as aborted
  // (written from the same 'close' event that tells the warm run to stop).
  req.destroy();
  await watch.when(() => logged('request', (l) => l.path === '/api/v1/warm' && l.aborted === true) !== undefined);
  expect(answer.seen.map((e) => e.event).filter((e) => e !== 'working')).toEqual(['image']);

  // The started downloads finish; the run ends without starting another.
  upstream.release('warm/app');
  // Whichever comes first: the run's end, or a fourth blob asked for (a run that did not stop).
  await watch.when(() => ['warm: image stopped', 'warm: image done', 'warm: image failed'].some((m) => logged(m) !== undefined) || upstream.gets('warm/app') > 3);
  expect(logged('warm: image stopped')).toMatchObject({ reference: REF, fetched: { blobs: 3, bytes: 6000 }, not_started: 3 });
  expect(logged('warm: image done')).toBeUndefined();
  expect(blobsAsked()).toEqual(digests.slice(0, 3));

  // Nothing is left pending, and the image counts as stopped, not warm. (The run's last steps
  // after that log line take no I/O, so they are over before the server reads this request.)
  const after = await metrics();
  expect([metric(after, 'keel_warm_pending_blobs'), metric(after, 'keel_warm_pending_bytes'), metric(after, 'keel_warm_requests_in_progress')]).toEqual([0, 0, 0]);
  expect(metric(after, 'keel_warm_images_total', { upstream: 'up', outcome: 'stopped' })).toBe(1);
  expect(metric(after, 'keel_warm_images_total', { upstream: 'up', outcome: 'warm' })).toBeUndefined();
  expect(metric(after, 'keel_warm_blobs_total', { upstream: 'up', state: 'fetched' })).toBe(3);
});

test('the server goes on: the next warm request of the image finds the three stored and fetches only the other three', async () => {
  upstream.hold = false;
  const res = await fetch(`${keel.url}/api/v1/warm`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ references: [REF] }) });
  expect(res.status).toBe(200);
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { event: string; images?: Array<{ fetched: { blobs: number }; cached: { blobs: number } }> });
  expect(lines.at(-1)).toMatchObject({ event: 'summary', failed: 0, images: [{ reference: REF, fetched: { blobs: 3, bytes: 15000 }, cached: { blobs: 3, bytes: 6000 } }] });
  // Each blob was asked of the upstream once, over both requests.
  expect([...blobsAsked()].sort()).toEqual([...digests].sort());
  const text = await metrics();
  expect(metric(text, 'keel_warm_images_total', { upstream: 'up', outcome: 'warm' })).toBe(1);
  expect([metric(text, 'keel_warm_blobs_total', { upstream: 'up', state: 'fetched' }), metric(text, 'keel_warm_blobs_total', { upstream: 'up', state: 'cached' })]).toEqual([6, 3]);
  expect(metric(text, 'keel_warm_pending_blobs')).toBe(0);
});
