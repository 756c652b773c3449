// Cache warming against a real upstream (Debian's docker-registry, Distribution 2.8, on
// loopback): scripts/warm, the real executable, asks the running Keel to fetch images into
// the proxy store; the upstream's access log shows what was fetched, and once the upstream is
// stopped every warmed image is still served, byte for byte.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { run, stopAll, WARM } from '../support/cli-process.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { metric } from '../support/metrics-text.js';
import type { WarmSummary as Summary } from '../../src/proxy/warm.js';
import { Client, errorCode, OCI_INDEX, OCI_MANIFEST, type Descriptor } from '../support/oci-client.js';
import { streamPull } from '../support/stream-pull.js';

interface Image {
  digest: string;
  manifest: object;
  blobs: Descriptor[];
}
let upstream: Distribution;
let keel: KeelProcess;
let up: Client;
let client: Client;
let amd64: Image;
let arm64: Image;
let single: Image;
let indexDigest: string;

/** The pins in Keel's index, read beside the server (GC reads them the same way). */
function pins(): unknown[] {
  const db = new Database(keel.config.database, { readonly: true });
  try {
    return db.prepare('SELECT upstream, repository, reference FROM proxy_pins ORDER BY reference').all();
  } finally {
    db.close();
  }
}

const bytesOf = (image: Image): number => image.blobs.reduce((n, b) => n + b.size, 0);

async function warm(...args: string[]): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  const child = run(WARM, ['--url', keel.url, '--json', ...args]);
  const code = await child.exited;
  const out = child.stdout().trim();
  return { code, summary: (out === '' ? undefined : JSON.parse(out)) as Summary, stderr: child.stderr() };
}

async function blobGets(image: Image): Promise<number[]> {
  return Promise.all(image.blobs.map((b) => countRequests(upstream, 'GET', `/blobs/${b.digest}`)));
}

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd']);
  upstream = await startDistribution();
  keel = await startKeel({
    toml: `
[proxy]
allow = ["localhost"]
tag_ttl = "5m"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "10s"
`,
  });
  up = new Client(upstream.url);
  client = new Client(keel.url);
  amd64 = await up.pushImage('warm/multi', 'amd64-only', { layers: 2, layerSize: 256 * 1024 });
  arm64 = await up.pushImage('warm/multi', 'arm64-only', { layers: 3, layerSize: 128 * 1024 });
  indexDigest = (
    await up.pushIndex('warm/multi', 'v1', [
      { image: amd64, platform: { architecture: 'amd64', os: 'linux' } },
      { image: arm64, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ])
  ).digest;
  single = await up.pushImage('warm/single', 'latest', { layers: 1, layerSize: 512 * 1024 });
}, 300_000);

afterAll(async () => {
  await stopAll();
  await keel?.destroy();
  await upstream?.stop();
});

describe('scripts/warm', () => {
  test('a dry run reads the manifests, says what would be fetched and its size, and fetches no blob', async () => {
    const { code, summary } = await warm('--dry-run', 'proxy/up/warm/multi:v1');
    expect(code).toBe(0);
    expect(summary.dry_run).toBe(true);
    const [image] = summary.images;
    expect(image).toMatchObject({ reference: 'proxy/up/warm/multi:v1', digest: indexDigest, manifests: 3, blobs: 7, bytes: bytesOf(amd64) + bytesOf(arm64) });
    expect(image?.missing).toEqual({ blobs: 7, bytes: bytesOf(amd64) + bytesOf(arm64) });
    expect(image?.fetched).toEqual({ blobs: 0, bytes: 0 });
    expect([...(await blobGets(amd64)), ...(await blobGets(arm64))]).toEqual(new Array(7).fill(0));
  });

  test('--platform fetches only that child of an index, each blob once', async () => {
    const { code, summary } = await warm('--platform', 'linux/arm64', 'proxy/up/warm/multi:v1');
    expect(code).toBe(0);
    const [image] = summary.images;
    expect(image).toMatchObject({ manifests: 2, blobs: 4, fetched: { blobs: 4, bytes: bytesOf(arm64) }, cached: { blobs: 0, bytes: 0 } });
    expect(await blobGets(arm64)).toEqual([1, 1, 1, 1]);
    expect(await blobGets(amd64)).toEqual([0, 0, 0]);
  });

  test('every platform, and references from a file: what is cached is not fetched again', async () => {
    const { writeFile } = await import('node:fs/promises');
    const list = `${keel.root}/warm-list.txt`;
    await writeFile(list, '# the rollout\nproxy/up/warm/multi:v1\n\nproxy/up/warm/single:latest  # base\n');
    const { code, summary } = await warm('--file', list);
    expect(code).toBe(0);
    expect(summary.failed).toBe(0);
    const [multi, one] = summary.images;
    expect(multi).toMatchObject({ manifests: 3, blobs: 7, fetched: { blobs: 3, bytes: bytesOf(amd64) }, cached: { blobs: 4, bytes: bytesOf(arm64) } });
    expect(one).toMatchObject({ reference: 'proxy/up/warm/single:latest', digest: single.digest, fetched: { blobs: 2, bytes: bytesOf(single) } });
    expect([...(await blobGets(amd64)), ...(await blobGets(arm64)), ...(await blobGets(single))]).toEqual(new Array(9).fill(1));
  });

  test('a reference that cannot be warmed fails alone, named, with exit status 1', async () => {
    const { code, summary } = await warm('proxy/up/warm/single:latest', 'proxy/up/warm/nothing:here');
    expect(code).toBe(1);
    expect(summary.failed).toBe(1);
    expect(summary.images[0]).toMatchObject({ cached: { blobs: 2 } });
    expect(summary.images[1]).toMatchObject({ reference: 'proxy/up/warm/nothing:here', error: { code: 'MANIFEST_UNKNOWN' } });
  });

  test('bad arguments are refused before anything is fetched', async () => {
    const local = await warm('library/app:v1');
    expect(local.code).toBe(1);
    expect(local.stderr).toContain('403 DENIED: only images under proxy/ can be warmed');
    const platform = await warm('--platform', 'linux', 'proxy/up/warm/multi:v1');
    expect(platform.code).toBe(1);
    expect(platform.stderr).toContain('platform is os/architecture[/variant]');
    const none = run(WARM, ['--url', keel.url]);
    expect(await none.exited).toBe(2);
    expect(none.stderr()).toContain('name at least one image reference');
  });

  test('--pin pins each image once warm, --unpin only removes the pin; both at once is a usage error', async () => {
    const pinned = await warm('--pin', 'proxy/up/warm/single:latest');
    expect(pinned.code).toBe(0);
    expect(pinned.summary.images[0]).toMatchObject({ pinned: true, cached: { blobs: 2 } });
    expect(pins()).toEqual([{ upstream: 'up', repository: 'warm/single', reference: 'latest' }]);
    const unpinned = await warm('--unpin', 'proxy/up/warm/single:latest');
    expect(unpinned.code).toBe(0);
    expect(unpinned.summary.images[0]).toMatchObject({ pinned: false, fetched: { blobs: 0 }, cached: { blobs: 0 } });
    expect(pins()).toEqual([]);
    const both = run(WARM, ['--url', keel.url, '--pin', '--unpin', 'proxy/up/warm/single:latest']);
    expect(await both.exited).toBe(2);
    expect(both.stderr()).toContain('--pin and --unpin exclude each other');
  });

  test('the API refuses what is not a warm request with an OCI error', async () => {
    const post = (body: string): Promise<Response> => client.fetch('/api/v1/warm', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const notJson = await post('{"references": [');
    expect(notJson.status).toBe(400);
    expect(await errorCode(notJson)).toBe('UNSUPPORTED');
    const empty = await post('{"references": []}');
    expect(empty.status).toBe(400);
    const extra = await post('{"references": ["proxy/up/a:b"], "pin": true, "unpin": true}');
    expect(extra.status).toBe(400);
    const unknown = await post('{"references": ["proxy/up/a:b"], "force": true}');
    expect(unknown.status).toBe(400);
    expect(extra.status).toBe(400);
    const get = await client.fetch('/api/v1/warm');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  test('/metrics counts the images, blobs and bytes warmed above, fetched or cached; the dry run and the unpin count nothing; nothing is pending after', async () => {
    const text = await (await client.fetch('/metrics')).text();
    const images = (outcome: string): number | undefined => metric(text, 'keel_warm_images_total', { upstream: 'up', outcome });
    // Warm: arm64 child; multi + single from the file; single beside the failure; single pinned.
    expect([images('warm'), images('failed'), images('stopped')]).toEqual([5, 1, undefined]);
    const blobs = (state: string): number | undefined => metric(text, 'keel_warm_blobs_total', { upstream: 'up', state });
    const bytes = (state: string): number | undefined => metric(text, 'keel_warm_bytes_total', { upstream: 'up', state });
    // Fetched once each: arm64's 4, then amd64's 3 and single's 2. The dry run fetched none of them.
    expect(blobs('fetched')).toBe(9);
    expect(bytes('fetched')).toBe(bytesOf(arm64) + bytesOf(amd64) + bytesOf(single));
    // Cached: arm64's 4 on the second warm of the index, then single's 2 twice (beside the failure, pinned).
    expect(blobs('cached')).toBe(8);
    expect(bytes('cached')).toBe(bytesOf(arm64) + 2 * bytesOf(single));
    expect([metric(text, 'keel_warm_pending_blobs'), metric(text, 'keel_warm_pending_bytes'), metric(text, 'keel_warm_requests_in_progress')]).toEqual([0, 0, 0]);
  });
});

describe('with auth on', () => {
  let secured: KeelProcess;
  const as = (user: string, password: string | undefined, ...args: string[]): ReturnType<typeof run> =>
    run(WARM, ['--url', secured.url, '--json', '--user', user, ...args], { env: password === undefined ? {} : { KEEL_PASSWORD: password } });

  beforeAll(async () => {
    const root = await rootWithUsers('keel-warm-auth', { ops: 'o-pass', dev: 'd-pass' });
    secured = await startKeel({
      root,
      toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "proxy/**"
users = ["ops"]
actions = ["pull"]

[[auth.access]]
repository = "proxy/up/warm/single"
users = ["dev", "anonymous"]
actions = ["pull"]

[proxy]
allow = ["localhost"]

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
`,
    });
  });
  afterAll(() => secured?.destroy());

  test('a signed-in user allowed to pull every repository named may warm; others are refused before anything is fetched', async () => {
    const anonymous = run(WARM, ['--url', secured.url, 'proxy/up/warm/single:latest']);
    expect(await anonymous.exited).toBe(1);
    expect(anonymous.stderr()).toContain('401 UNAUTHORIZED');

    const wrong = as('ops', 'nope', 'proxy/up/warm/single:latest');
    expect(await wrong.exited).toBe(1);
    expect(wrong.stderr()).toContain('401 UNAUTHORIZED');

    // dev may pull warm/single but not warm/multi: the whole request is refused.
    const dev = as('dev', 'd-pass', 'proxy/up/warm/single:latest', 'proxy/up/warm/multi:v1');
    expect(await dev.exited).toBe(1);
    expect(dev.stderr()).toContain('403 DENIED');
    expect(dev.stderr()).toContain('dev may not pull proxy/up/warm/multi');

    const noPassword = as('ops', undefined, 'proxy/up/warm/single:latest');
    expect(await noPassword.exited).toBe(2);
    expect(noPassword.stderr()).toContain('KEEL_PASSWORD');

    const ops = as('ops', 'o-pass', 'proxy/up/warm/single:latest', 'proxy/up/warm/multi:v1');
    expect(await ops.exited).toBe(0);
    const summary = JSON.parse(ops.stdout()) as Summary;
    expect(summary.images.map((i) => [i.reference, i.blobs, i.error])).toEqual([
      ['proxy/up/warm/single:latest', 2, undefined],
      ['proxy/up/warm/multi:v1', 7, undefined],
    ]);
  });
});

describe('with the upstream stopped', () => {
  test('every warmed image is served from the cache, byte for byte', async () => {
    await upstream.stop();
    for (const [repo, tag, image] of [
      ['warm/multi', 'v1', undefined],
      ['warm/single', 'latest', single],
    ] as const) {
      const res = await client.fetch(`/v2/proxy/up/${repo}/manifests/${tag}`, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(image?.digest ?? indexDigest);
    }
    for (const [repo, image] of [
      ['warm/multi', amd64],
      ['warm/multi', arm64],
      ['warm/single', single],
    ] as const) {
      expect((await client.fetch(`/v2/proxy/up/${repo}/manifests/${image.digest}`)).status).toBe(200);
      for (const b of image.blobs) {
        expect(await streamPull(`${keel.url}/v2/proxy/up/${repo}/blobs/${b.digest}`)).toEqual({ status: 200, digest: b.digest, bytes: b.size });
      }
    }
  });
});
