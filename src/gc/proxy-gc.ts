/**
 * Cache retention for the proxy store. The unit is an image: a cached tag with its manifest,
 * an index's child manifests, and their blobs go together; a blob that a retained manifest
 * (of the same upstream) references is never evicted.
 *   - By age: what was not read for gc.proxy.max_age is evicted.
 *   - By size: beyond gc.proxy.max_size, the least recently read images are evicted until
 *     the cache fits.
 * Nothing fetched within the grace period is evicted. The plan comes from one snapshot of the
 * index (a dry run reports it and writes nothing). A real run deletes rows first (small write
 * transactions that re-check last_access, so a read in between keeps the row; batches.ts),
 * then content no row names; the store checks every removal again at the last moment
 * (BlobSweeper.removeUnwanted), for content found by the scan or left by a deleted row.
 */
import pLimit from 'p-limit';
import type { Digest } from '../primitives/types.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import { inBatches } from './batches.js';
import type { GcContext } from './context.js';
import { FILE_CONCURRENCY, sweepOrphans } from './orphans.js';
import { sortStoreItems } from './registry-gc.js';
import { emptySummary, type StoreSummary } from './summary.js';

interface Manifest {
  key: string;
  upstream: string;
  repository: string;
  digest: string;
  size: number;
  fetchedAt: number;
  lastAccess: number;
  children: string[];
  blobs: string[];
}

interface Blob {
  key: string;
  upstream: string;
  digest: string;
  size: number;
  fetchedAt: number;
  lastAccess: number;
  refs: number;
}

const mkey = (upstream: string, repository: string, digest: string): string => `${upstream}\n${repository}\n${digest}`;
const bkey = (upstream: string, digest: string): string => `${upstream}\n${digest}`;

export async function collectProxy(ctx: GcContext, store: { blobs: BlobSweeper }): Promise<StoreSummary> {
  const { index, config, logger, progress, items } = ctx;
  const summary = emptySummary('proxy');
  const cutoff = ctx.now - ctx.grace;
  const local = (upstream: string, repository: string): string => `proxy/${upstream}/${repository}`;
  const { max_age: maxAge, max_size: maxSize } = config.gc.proxy;
  const ageCutoff = maxAge > 0 ? ctx.now - maxAge : -Infinity;
  const fresh = (fetchedAt: number): boolean => fetchedAt >= cutoff;

  await sweepOrphans(ctx, 'proxy orphans', { blobs: store.blobs, known: (d) => index.proxyContentKnown(d) }, cutoff, summary);
  const files = pLimit(FILE_CONCURRENCY);

  const graph = await index.proxyGraph();
  const manifests = new Map<string, Manifest>();
  for (const m of graph.manifests) {
    const key = mkey(m.upstream, m.repository, m.digest);
    manifests.set(key, { key, upstream: m.upstream, repository: m.repository, digest: m.digest, size: m.size, fetchedAt: m.fetched_at, lastAccess: m.last_access, children: [], blobs: [] });
  }
  for (const r of graph.references) {
    const parent = manifests.get(mkey(r.upstream, r.repository, r.manifest_digest));
    if (!parent) continue;
    if (r.kind === 'manifest') parent.children.push(mkey(r.upstream, r.repository, r.child_digest));
    else parent.blobs.push(bkey(r.upstream, r.child_digest));
  }
  const blobs = new Map<string, Blob>();
  for (const b of graph.blobs) {
    const key = bkey(b.upstream, b.digest);
    blobs.set(key, { key, upstream: b.upstream, digest: b.digest, size: b.size, fetchedAt: b.fetched_at, lastAccess: b.last_access, refs: 0 });
  }
  const tags = graph.tags;

  // An image is a root (a tag, or a manifest no tag points at) and what it reaches.
  const reach = (root: string): Manifest[] => {
    const seen = new Map<string, Manifest>();
    const stack = [root];
    while (stack.length > 0) {
      const m = manifests.get(stack.pop() as string);
      if (!m || seen.has(m.key)) continue;
      seen.set(m.key, m);
      stack.push(...m.children);
    }
    return [...seen.values()];
  };
  const tagged = new Set(tags.map((t) => mkey(t.upstream, t.repository, t.digest)));
  const childKeys = new Set([...manifests.values()].flatMap((m) => m.children));
  interface Image {
    lastAccess: number;
    fresh: boolean;
    manifests: Manifest[];
    tag?: (typeof tags)[number];
  }
  const images: Image[] = [
    ...tags.map((t) => {
      const members = reach(mkey(t.upstream, t.repository, t.digest));
      return { lastAccess: Math.max(t.last_access, ...members.map((m) => m.lastAccess)), fresh: fresh(t.checked_at) || members.some((m) => fresh(m.fetchedAt)), manifests: members, tag: t };
    }),
    ...[...manifests.values()]
      .filter((m) => !tagged.has(m.key) && !childKeys.has(m.key))
      .map((m) => {
        const members = reach(m.key);
        return { lastAccess: Math.max(...members.map((x) => x.lastAccess)), fresh: members.some((x) => fresh(x.fetchedAt)), manifests: members };
      }),
  ];

  // Reference counts: how many kept images hold each manifest and blob.
  const referenced = new Set([...manifests.values()].flatMap((m) => m.blobs));
  const manifestRefs = new Map<string, number>();
  const keptManifest = (m: Manifest): boolean => (manifestRefs.get(m.key) ?? 0) > 0 || fresh(m.fetchedAt);
  // A blob no cached manifest references (fetched by digest alone) lives by its own last read.
  const keptBlob = (b: Blob): boolean => b.refs > 0 || fresh(b.fetchedAt) || (!referenced.has(b.key) && b.lastAccess >= ageCutoff);
  for (const image of images) {
    for (const m of image.manifests) {
      manifestRefs.set(m.key, (manifestRefs.get(m.key) ?? 0) + 1);
      for (const b of m.blobs) {
        const blob = blobs.get(b);
        if (blob) blob.refs++;
      }
    }
  }

  const evicted: Image[] = [];
  /** Lets go of an image; returns the bytes that frees (what no other kept image holds). */
  const evict = (image: Image): number => {
    evicted.push(image);
    let freed = 0;
    for (const m of image.manifests) {
      manifestRefs.set(m.key, (manifestRefs.get(m.key) ?? 0) - 1);
      if (!keptManifest(m)) freed += m.size;
      for (const b of m.blobs) {
        const blob = blobs.get(b);
        if (!blob) continue;
        blob.refs--;
        if (blob.refs === 0 && !keptBlob(blob)) freed += blob.size;
      }
    }
    return freed;
  };
  for (const image of images) if (!image.fresh && image.lastAccess < ageCutoff) evict(image);

  if (maxSize > 0) {
    let total =
      [...manifests.values()].filter(keptManifest).reduce((n, m) => n + m.size, 0) + [...blobs.values()].filter(keptBlob).reduce((n, b) => n + b.size, 0);
    const gone = new Set(evicted);
    const byAge = images.filter((i) => !gone.has(i) && !i.fresh).sort((a, b) => a.lastAccess - b.lastAccess);
    for (const image of byAge) {
      if (total <= maxSize) break;
      total -= evict(image);
    }
  }

  // Rows: evicted tags, manifests no kept image holds, blobs nothing holds.
  const deadManifests = [...manifests.values()].filter((m) => !keptManifest(m));
  const deadBlobs = [...blobs.values()].filter((b) => !keptBlob(b));
  const apply = async <T>(planned: T[], del: (batch: readonly T[]) => Promise<T[]>): Promise<T[]> =>
    ctx.dryRun ? planned : (await inBatches(planned, index.batchPauseMs, del)).flat();
  // Tags before the manifests they point at (deleting a manifest would take its tags along).
  const evictedTags = evicted.flatMap((image) => (image.tag ? [image.tag] : []));
  for (const t of await apply(evictedTags, (b) => index.deleteProxyTags(b))) {
    summary.tags++;
    items?.push({ store: 'proxy', kind: 'tag', repository: local(t.upstream, t.repository), tag: t.tag, digest: t.digest });
  }
  const withAccess = <T extends { lastAccess: number }>(x: T): T & { last_access: number } => ({ ...x, last_access: x.lastAccess });
  for (const m of await apply(deadManifests.map(withAccess), (b) => index.deleteProxyManifests(b))) {
    summary.manifests++;
    items?.push({ store: 'proxy', kind: 'manifest', repository: local(m.upstream, m.repository), digest: m.digest, size: m.size });
  }
  const removed = await apply(deadBlobs.map(withAccess), (b) => index.deleteProxyBlobs(b));

  // Content: a digest whose last row is gone (manifest content and blobs share the store).
  const digests = new Map<string, number>();
  const removedDigests = new Set(removed.map((b) => b.digest));
  for (const b of removed) digests.set(b.digest, b.size);
  for (const m of deadManifests) digests.set(m.digest, m.size);
  // A dry run deletes no row: what the plan keeps is what still names a digest afterwards.
  const stillNamed = ctx.dryRun
    ? new Set([...[...manifests.values()].filter(keptManifest), ...[...blobs.values()].filter(keptBlob)].map((x) => x.digest))
    : await index.proxyContentKnown([...digests.keys()]);
  await progress.start('proxy cache', digests.size);
  await Promise.all(
    [...digests].map(([digest, size]) =>
      files(async () => {
        progress.tick();
        if (stillNamed.has(digest)) return;
        if (removedDigests.has(digest)) {
          summary.blobs++;
          items?.push({ store: 'proxy', kind: 'blob', digest, size });
        }
        const freed = ctx.dryRun
          ? size
          : await store.blobs.removeUnwanted(digest as Digest, cutoff, async () => (await index.proxyContentKnown([digest])).has(digest));
        summary.bytes += freed;
      }),
    ),
  );
  progress.stop();
  if (items) sortStoreItems(items, 'proxy');
  logger.info({ ...summary, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: proxy cache done (dry run: the counts are what it would delete)' : 'gc: proxy cache done');
  return summary;
}
