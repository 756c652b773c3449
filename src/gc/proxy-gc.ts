/**
 * Cache retention for the proxy store: what proxy-plan.ts plans (images by age, then by size,
 * nothing fetched within the grace period), applied. A dry run reports the plan and writes
 * nothing. A real run deletes rows first (small write transactions that re-check last_access,
 * so a read in between keeps the row; batches.ts), then content no row names; the store checks
 * every removal again at the last moment (BlobSweeper.removeUnwanted), for content found by
 * the scan or left by a deleted row.
 */
import pLimit from 'p-limit';
import type { Digest } from '../primitives/types.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import { inBatches, pacing } from './batches.js';
import type { GcContext } from './context.js';
import { FILE_CONCURRENCY, sweepOrphans } from './orphans.js';
import { planProxy } from './proxy-plan.js';
import { sortStoreItems } from './registry-gc.js';
import { emptySummary, type StoreSummary } from './summary.js';
import { coalescedKnown } from './coalesced-known.js';

export async function collectProxy(ctx: GcContext, store: { blobs: BlobSweeper }): Promise<StoreSummary> {
  const { index, config, logger, progress, items } = ctx;
  const summary = emptySummary('proxy');
  const cutoff = ctx.now - ctx.grace;
  const local = (upstream: string, repository: string): string => `proxy/${upstream}/${repository}`;
  const { max_age: maxAge, max_size: maxSize } = config.gc.proxy;

  await sweepOrphans(ctx, 'proxy orphans', { blobs: store.blobs, known: (d) => index.proxyContentKnown(d) }, cutoff, summary);
  const files = pLimit(FILE_CONCURRENCY);
  const knownAgain = coalescedKnown((digests) => index.proxyContentKnown(digests));

  const plan = await planProxy(index, { cutoff, ageCutoff: maxAge > 0 ? ctx.now - maxAge : -Infinity, maxSize });
  const apply = async <T>(planned: T[], del: (batch: readonly T[]) => Promise<T[]>): Promise<T[]> =>
    ctx.dryRun ? planned : (await inBatches(planned, pacing(ctx), del)).flat();
  // Tags before the manifests they point at (deleting a manifest would take its tags along).
  for (const t of await apply(plan.tags, (b) => index.deleteProxyTags(b))) {
    summary.tags++;
    items?.push({ store: 'proxy', kind: 'tag', repository: local(t.upstream, t.repository), tag: t.tag, digest: t.digest });
  }
  for (const m of await apply(plan.manifests, (b) => index.deleteProxyManifests(b))) {
    summary.manifests++;
    items?.push({ store: 'proxy', kind: 'manifest', repository: local(m.upstream, m.repository), digest: m.digest, size: m.size });
  }
  const removed = await apply(plan.blobs, (b) => index.deleteProxyBlobs(b));

  // Content: a digest whose last row is gone (manifest content and blobs share the store).
  const digests = new Map<string, number>();
  const removedDigests = new Set(removed.map((b) => b.digest));
  for (const b of removed) digests.set(b.digest, b.size);
  for (const m of plan.manifests) digests.set(m.digest, m.size);
  // A dry run deletes no row: what the plan keeps is what still names a digest afterwards.
  const stillNamed = ctx.dryRun ? plan.stillNamed(digests.keys()) : await index.proxyContentKnown([...digests.keys()]);
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
          : await store.blobs.removeUnwanted(digest as Digest, cutoff, () => knownAgain(digest));
        summary.bytes += freed;
      }),
    ),
  );
  progress.stop();
  if (items) sortStoreItems(items, 'proxy');
  logger.info({ ...summary, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: proxy cache done (dry run: the counts are what it would delete)' : 'gc: proxy cache done');
  return summary;
}
