/**
 * Mark and sweep of the local registry, from the index (no walk of the store to decide what
 * is live):
 *   1. content the index does not know (a crash between write and index), leftovers of
 *      interrupted writes, upload bytes without a session (orphans.ts);
 *   2. with --delete-untagged, manifests no tag reaches (untagged.ts);
 *   3. repository links to blobs that no manifest of that repository references, then
 *      repositories left with no manifest and no link;
 *   4. blobs no repository links and no manifest references, then their content;
 *   5. upload sessions untouched for gc.upload_max_age.
 * Steps 2-4 are planned from one snapshot of the index (registry-plan.ts: by indexed queries
 * that return only the candidates, or in memory from every row with --delete-untagged); a dry
 * run reports the plan and writes nothing, a real run applies it. Nothing younger than the grace period
 * is deleted at any step; what only it kept is counted (keptByGrace), so a run right after a
 * delete can say why it freed nothing. Rows go in small write transactions with pauses between
 * them (batches.ts), so the server is never locked out long.
 */
import pLimit from 'p-limit';
import type { Digest } from '../primitives/types.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import type { UploadSession } from '../storage/upload-store.js';
import { inBatches, pacing } from './batches.js';
import type { GcContext } from './context.js';
import type { GcUploads } from './wiring.js';
import { sweepOrphans } from './orphans.js';
import { planRegistry } from './registry-plan.js';
import { emptySummary, sortItems, type GcItem, type StoreSummary } from './summary.js';
import { coalescedKnown } from './coalesced-known.js';

/** Applies a planned delete in batches (a real run), or takes the plan as done (a dry run). */
async function deleted<T>(ctx: GcContext, planned: readonly T[], del: (batch: readonly T[]) => Promise<T[]>): Promise<T[]> {
  if (ctx.dryRun) return [...planned];
  return (await inBatches(planned, pacing(ctx), del)).flat();
}

/**
 * `options.meanwhile` runs after the orphan sweep, while the plan is made (run-gc.ts collects
 * the proxy cache there: SQLite makes the plan, the index's longest read, on a worker thread).
 */
export async function collectRegistry(
  ctx: GcContext,
  store: { blobs: BlobSweeper; uploads: GcUploads },
  options: { deleteUntagged: boolean; meanwhile?: () => Promise<void> },
): Promise<StoreSummary> {
  const { index, config, logger, progress, items } = ctx;
  const summary = emptySummary('registry');
  const files = pLimit(store.blobs.removalConcurrency);
  const knownAgain = coalescedKnown((digests) => index.blobsKnown(digests));
  const cutoff = ctx.now - ctx.grace;

  const sessions: UploadSession[] = [];
  for await (const s of store.uploads.list()) sessions.push(s);
  await sweepOrphans(
    ctx,
    'registry orphans',
    { blobs: store.blobs, known: (d) => index.blobsKnown(d), uploads: { store: store.uploads, sessions, known: (ids) => index.uploadsKnown(ids) } },
    cutoff,
    summary,
  );

  const planned = planRegistry(index, cutoff, options.deleteUntagged);
  if (options.meanwhile) {
    planned.catch(() => undefined); // awaited (and thrown) below, after the other work
    await options.meanwhile();
  }
  const plan = await planned;

  if (options.deleteUntagged) {
    for (const m of await deleted(ctx, plan.manifests, (b) => index.deleteUntaggedManifests(b))) {
      summary.manifests++;
      items?.push({ store: 'registry', kind: 'manifest', repository: m.repository, digest: m.digest, size: m.size });
    }
    logger.info({ store: 'registry', manifests: summary.manifests, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: would delete untagged manifests' : 'gc: untagged manifests deleted');
    summary.keptByGrace.manifests = plan.keptByGrace.manifests;
  }

  for (const l of await deleted(ctx, plan.links, (b) => index.deleteUnreferencedLinks(b, cutoff))) {
    summary.links++;
    items?.push({ store: 'registry', kind: 'link', repository: l.repository, digest: l.digest, ...(l.size !== null ? { size: l.size } : {}) });
  }

  const emptied = ctx.dryRun ? plan.repositories.map((r) => r.name) : await index.deleteEmptyRepositories(plan.repositories.map((r) => r.id));
  for (const name of emptied) {
    summary.repositories++;
    items?.push({ store: 'registry', kind: 'repository', repository: name });
  }

  const blobSizes = new Map(plan.blobs.map((b) => [b.digest, b.size]));
  await progress.start('registry blobs', plan.blobs.length);
  const blob = (digest: string, freed: number): void => {
    summary.blobs++;
    summary.bytes += freed;
    items?.push({ store: 'registry', kind: 'blob', digest, size: blobSizes.get(digest) ?? freed });
    progress.tick();
  };
  if (ctx.dryRun) for (const b of plan.blobs) blob(b.digest, b.size);
  else {
    await inBatches(
      plan.blobs.map((b) => b.digest),
      pacing(ctx),
      // Rows first, in one transaction: a reader never finds a row whose content is gone.
      (batch) => index.deleteUnreferencedBlobs(batch, cutoff),
      async (gone) => {
        await Promise.all(
          gone.map((digest) =>
            files(async () => {
              // Await first, then add: `summary.bytes += await ...` would read the total before the await.
              const freed = await store.blobs.removeUnwanted(digest as Digest, cutoff, () => knownAgain(digest));
              blob(digest, freed);
            }),
          ),
        );
      },
    );
  }
  progress.stop();

  const uploadCutoff = ctx.now - Math.max(config.gc.upload_max_age, ctx.grace);
  const stale = await index.staleUploads(uploadCutoff);
  const repositoryOf = new Map(stale.map((u) => [u.id, u.repository]));
  const sizeOf = new Map(sessions.map((s) => [s.id, s.size]));
  for (const id of await deleted(
    ctx,
    stale.map((u) => u.id),
    (b) => index.deleteStaleUploads(b, uploadCutoff),
  )) {
    // The row was the only way to reach the bytes: nothing can claim them again.
    if (!ctx.dryRun) await store.uploads.remove(id);
    const freed = sizeOf.get(id) ?? 0;
    summary.uploads++;
    summary.bytes += freed;
    items?.push({ store: 'registry', kind: 'upload', repository: repositoryOf.get(id) ?? '', id, size: freed });
  }

  summary.keptByGrace.blobs = plan.keptByGrace.blobs;
  summary.keptByGrace.bytes = plan.keptByGrace.bytes;
  if (items) sortStoreItems(items, 'registry');

  logger.info({ ...summary, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: registry store done (dry run: the counts are what it would delete)' : 'gc: registry store done');
  return summary;
}

/** Sorts the items of `store` in place, after the other stores': concurrent removals add them in any order. */
export function sortStoreItems(items: GcItem[], store: GcItem['store']): void {
  const mine = sortItems(items.filter((i) => i.store === store));
  const others = items.filter((i) => i.store !== store);
  // No spread: a run may list hundreds of thousands of items, more than a call takes arguments.
  items.length = 0;
  for (const i of others) items.push(i);
  for (const i of mine) items.push(i);
}
