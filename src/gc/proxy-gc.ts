/**
 * Cache retention for the proxy store: what proxy-plan.ts plans (images by age, then by size,
 * nothing fetched within the grace period), applied. A dry run reports the plan and writes
 * nothing. A real run deletes rows first (small write transactions that re-check last_access,
 * so a read in between keeps the row; batches.ts), then, batch by batch, the content no row
 * names, while the next batches of rows are deleted; the store checks
 * every removal again at the last moment (BlobSweeper.removeUnwanted), for content found by
 * the scan or left by a deleted row.
 */
import pLimit from 'p-limit';
import type { Digest } from '../primitives/types.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import { inBatches, pacing } from './batches.js';
import type { GcContext } from './context.js';
import { sweepOrphans } from './orphans.js';
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
  const files = pLimit(store.blobs.removalConcurrency);
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
  // Content: a digest whose last row is gone (manifest content and blobs share the store), each
  // counted once. A real run checks each batch of blob rows as it is deleted and removes its
  // content while the next batches are deleted (the files' steps run on the sweeper's worker).
  const handled = new Set<string>();
  const removals: Array<Promise<void>> = [];
  // Removals are awaited only after the last batch: each one's failure is held here until then
  // (left unhandled meanwhile, the first would end the process as an unhandled rejection).
  let failed: { error: unknown } | undefined;
  const removeContent = (entries: ReadonlyArray<{ digest: string; size: number }>, blobRows: boolean, named: ReadonlySet<string>): void => {
    for (const { digest, size } of entries) {
      progress.tick();
      if (named.has(digest) || handled.has(digest)) continue;
      handled.add(digest);
      if (blobRows) {
        summary.blobs++;
        items?.push({ store: 'proxy', kind: 'blob', digest, size });
      }
      if (ctx.dryRun) summary.bytes += size;
      else
        removals.push(
          files(async () => {
            // Await first, then add: `summary.bytes += await ...` would read the total before the await.
            const freed = await store.blobs.removeUnwanted(digest as Digest, cutoff, () => knownAgain(digest));
            summary.bytes += freed;
          }).catch((error: unknown) => {
            failed ??= { error };
          }),
        );
    }
  };
  const digestsOf = (entries: ReadonlyArray<{ digest: string }>): string[] => [...new Set(entries.map((e) => e.digest))];
  await progress.start('proxy cache', plan.blobs.length + plan.manifests.length);
  if (ctx.dryRun) {
    // A dry run deletes no row: what the plan keeps is what still names a digest afterwards.
    const named = plan.stillNamed([...digestsOf(plan.blobs), ...digestsOf(plan.manifests)]);
    removeContent(plan.blobs, true, named);
    removeContent(plan.manifests, false, named);
  } else {
    removeContent(plan.manifests, false, await index.proxyContentKnown(digestsOf(plan.manifests)));
    await inBatches(
      plan.blobs,
      pacing(ctx),
      (batch) => index.deleteProxyBlobs(batch),
      async (gone, batch) => {
        removeContent(gone, true, await index.proxyContentKnown(digestsOf(gone)));
        // Rows read again since the plan stay, and so does their content.
        for (let i = gone.length; i < batch.length; i++) progress.tick();
      },
    );
    await Promise.all(removals);
    if (failed) throw failed.error;
  }
  progress.stop();
  if (items) sortStoreItems(items, 'proxy');
  logger.info({ ...summary, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: proxy cache done (dry run: the counts are what it would delete)' : 'gc: proxy cache done');
  return summary;
}
