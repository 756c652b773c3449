/**
 * What the scale bench asks Keel, the same on the empty and on the full index: its own
 * images pushed through HTTP before the fill (so their files exist and they are in both
 * phases), then sequential latency samples of each request, taken in rounds (every figure a
 * slice per round) so the machine's noise spreads over all of them.
 *
 *   bench/tags      one image under `tagCount` tags t00000...: manifest GET by tag (each tag
 *                   once per phase, so Keel's 1 s tag cache never answers) and tags/list pages
 *   bench/cat-NNN   200 repositories of one image each: the empty registry's catalog pages
 *   bench/push      where each push sample goes: a new 1 KiB blob, then a manifest under a new tag
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ScaleClient } from './http-client.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CATALOG_REPOS = 200;

export type FigureId = 'manifest_get' | 'tags_first' | 'tags_after' | 'catalog_first' | 'catalog_middle' | 'browse_first' | 'browse_middle' | 'push' | 'metrics';

export interface Samples {
  /** Milliseconds, one per request (a push: blob + manifest). */
  readonly ms: Record<FigureId, number[]>;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tagName = (i: number): string => `t${String(i).padStart(5, '0')}`;

async function pushBlob(client: ScaleClient, repo: string, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  await client.expect(201, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, bytes, { 'content-type': 'application/octet-stream' });
  return digest;
}

function manifest(config: { digest: string; size: number }, layer: { digest: string; size: number }): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }),
  );
}

async function pushImage(client: ScaleClient, repo: string, tags: readonly string[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo }));
  const layer = randomBytes(1024);
  const m = manifest({ digest: await pushBlob(client, repo, config), size: config.length }, { digest: await pushBlob(client, repo, layer), size: layer.length });
  for (const tag of tags) await client.expect(201, 'PUT', `/v2/${repo}/manifests/${tag}`, m, { 'content-type': OCI_MANIFEST });
}

/** The bench's own images, pushed once into the empty registry. */
export async function pushBenchImages(client: ScaleClient, tagCount: number): Promise<void> {
  await pushImage(
    client,
    'bench/tags',
    Array.from({ length: tagCount }, (_, i) => tagName(i)),
  );
  for (let r = 0; r < CATALOG_REPOS; r++) await pushImage(client, `bench/cat-${String(r).padStart(3, '0')}`, ['latest']);
  await pushImage(client, 'bench/push', ['base']);
}

export interface PhaseOptions {
  /** Which phase: part of the push samples' tag names. */
  phase: string;
  tagCount: number;
  rounds: number;
  /** Samples per round of each light figure (GETs of lists). */
  perRound: number;
  pushesPerRound: number;
  /** At most this long per round on /metrics (a slow scrape must not make the bench take hours). */
  metricsBudgetMs: number;
  /** The `last` of the catalog's middle page in this phase. */
  catalogMiddle: string;
  /** The cursor of the middle page of /api/v1/repositories?sort=pushed in this phase (middleCursor). */
  browseMiddle: string;
}

export async function measurePhase(client: ScaleClient, o: PhaseOptions): Promise<Samples> {
  const ms: Samples['ms'] = { manifest_get: [], tags_first: [], tags_after: [], catalog_first: [], catalog_middle: [], browse_first: [], browse_middle: [], push: [], metrics: [] };
  const time = async (id: FigureId, work: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await work();
    ms[id].push(performance.now() - t);
  };
  const accept = { accept: OCI_MANIFEST };
  const getsPerRound = Math.floor(o.tagCount / o.rounds);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo: 'bench/push' }));
  const configRef = { digest: digestOf(config), size: config.length };
  let nextTag = 0;
  let pushes = 0;
  for (let round = 0; round < o.rounds; round++) {
    for (let i = 0; i < getsPerRound; i++) {
      const tag = tagName(nextTag++);
      await time('manifest_get', () => client.expect(200, 'GET', `/v2/bench/tags/manifests/${tag}`, undefined, accept));
    }
    for (let i = 0; i < o.perRound; i++) await time('tags_first', () => client.expect(200, 'GET', '/v2/bench/tags/tags/list?n=100'));
    const after = tagName(Math.floor(o.tagCount / 2));
    for (let i = 0; i < o.perRound; i++) await time('tags_after', () => client.expect(200, 'GET', `/v2/bench/tags/tags/list?n=100&last=${after}`));
    for (let i = 0; i < o.perRound; i++) await time('catalog_first', () => client.expect(200, 'GET', '/v2/_catalog?n=100'));
    const middle = encodeURIComponent(o.catalogMiddle);
    for (let i = 0; i < o.perRound; i++) await time('catalog_middle', () => client.expect(200, 'GET', `/v2/_catalog?n=100&last=${middle}`));
    for (let i = 0; i < o.perRound; i++) await time('browse_first', () => client.expect(200, 'GET', '/api/v1/repositories?sort=pushed&n=100'));
    const cursor = encodeURIComponent(o.browseMiddle);
    for (let i = 0; i < o.perRound; i++) await time('browse_middle', () => client.expect(200, 'GET', `/api/v1/repositories?sort=pushed&n=100&cursor=${cursor}`));
    for (let i = 0; i < o.pushesPerRound; i++) {
      const layer = randomBytes(1024);
      const tag = `${o.phase}-${pushes++}`;
      await time('push', async () => {
        const digest = await pushBlob(client, 'bench/push', layer);
        await client.expect(201, 'PUT', `/v2/bench/push/manifests/${tag}`, manifest(configRef, { digest, size: layer.length }), { 'content-type': OCI_MANIFEST });
      });
    }
    const started = performance.now();
    for (let i = 0; i < o.perRound && (i < 3 || performance.now() - started < o.metricsBudgetMs); i++) {
      await time('metrics', () => client.expect(200, 'GET', '/metrics'));
    }
  }
  return { ms };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const CATALOG_MIDDLE_EMPTY = `bench/cat-${String(CATALOG_REPOS / 2).padStart(3, '0')}`;
