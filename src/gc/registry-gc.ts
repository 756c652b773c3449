/**
 * Mark and sweep of the local registry, from the index (no walk of the store to decide what
 * is live):
 *   1. files the index does not know (a crash between write and index), stale temp files;
 *   2. with --delete-untagged, manifests no tag reaches (untagged.ts);
 *   3. repository links to blobs that no manifest of that repository references, then
 *      repositories left with no manifest and no link;
 *   4. blobs no repository links and no manifest references, then their files;
 *   5. upload sessions untouched for gc.upload_max_age.
 * Nothing younger than the grace period is deleted at any step; what only it kept is counted
 * (keptByGrace), so a run right after a delete can say why it freed nothing. Rows go in small
 * write transactions with pauses between them (batches.ts), so the server is never locked out long.
 */
import type { Digest } from '../shared/types.js';
import { uploadPath } from '../storage/fs/paths.js';
import { inBatches } from './batches.js';
import type { GcContext } from './context.js';
import { removeContent, removeFile, removeStray, strayContent, strayTemporary, type StrayFile } from './file-sweeper.js';
import { emptySummary, sortItems, type GcItem, type StoreSummary } from './summary.js';
import { untaggedManifests } from './untagged.js';
import pLimit from 'p-limit';

/** File removals in flight at once (each is rename, stat, unlink on the libuv thread pool). */
export const FILE_CONCURRENCY = 32;

/**
 * Removes what a scan found, each file moved aside and checked again (file-sweeper.ts): the
 * scan may have taken long, and a file pushed again since is kept. Counts what went (a dry
 * run counts what the scan found). The phase is announced, and awaited, between the scan and
 * the first removal.
 */
export async function sweepStray(ctx: GcContext, phase: string, stray: readonly StrayFile[], cutoff: number, summary: StoreSummary): Promise<void> {
  const files = pLimit(FILE_CONCURRENCY);
  await ctx.progress.start(phase, stray.length);
  await Promise.all(
    stray.map((f) =>
      files(async () => {
        const freed = ctx.dryRun ? f.size : await removeStray(f, cutoff);
        if (freed !== undefined) {
          summary.orphans++;
          summary.bytes += freed;
          ctx.items?.push({ store: summary.store, kind: 'orphan', path: f.path, size: freed });
        }
        ctx.progress.tick();
      }),
    ),
  );
  ctx.progress.stop();
}

export async function collectRegistry(ctx: GcContext, options: { deleteUntagged: boolean }): Promise<StoreSummary> {
  const { db, q, config, logger, progress, items } = ctx;
  const batches = { pause: !ctx.dryRun };
  const summary = emptySummary('registry');
  const files = pLimit(FILE_CONCURRENCY);
  const cutoff = ctx.now - ctx.grace;

  // Files unknown to the index before anything is deleted here (so a dry run, which deletes
  // rows in a copy only, does not count what it would delete twice).
  const stray = [
    ...(await strayContent(config.registry_storage, cutoff, (d) => q.blobKnown.get(d) !== undefined)),
    ...(await strayTemporary(config.temporary_registry_storage, cutoff, (id) => q.uploadKnown.get(id) !== undefined)),
  ];
  await sweepStray(ctx, 'registry orphans', stray, cutoff, summary);

  const graph = (): Parameters<typeof untaggedManifests>[0] => ({ manifests: q.manifests.all(), tagged: q.tagged.all(), children: q.childEdges.all() });
  if (options.deleteUntagged) {
    const doomed = untaggedManifests(graph(), cutoff);
    await inBatches(db, doomed, batches, (batch) => {
      for (const m of batch) {
        const item = items && q.manifestItem.get(m.repository_id, m.digest);
        const changes = q.deleteUntaggedManifest.run(m.repository_id, m.digest).changes;
        summary.manifests += changes;
        if (item && changes > 0) items.push({ store: 'registry', kind: 'manifest', repository: item.name, digest: m.digest, size: item.size });
      }
    });
    logger.info({ store: 'registry', manifests: summary.manifests, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: would delete untagged manifests' : 'gc: untagged manifests deleted');
    // What is left untagged now is what the grace period kept: a grace of "now" would take it.
    summary.keptByGrace.manifests = untaggedManifests(graph(), Infinity).length;
  }

  const links = q.unreferencedLinks.all({ cutoff });
  await inBatches(db, links, batches, (batch) => {
    for (const l of batch) {
      const item = items && q.linkItem.get(l);
      const changes = q.deleteLink.run({ cutoff, ...l }).changes;
      summary.links += changes;
      if (item && changes > 0) items.push({ store: 'registry', kind: 'link', repository: item.name, digest: l.digest, ...(item.size !== null ? { size: item.size } : {}) });
    }
  });

  for (const { name } of q.deleteEmptyRepositories.all()) {
    summary.repositories++;
    items?.push({ store: 'registry', kind: 'repository', repository: name });
  }

  const blobs = q.unreferencedBlobs.all({ cutoff });
  await progress.start('registry blobs', blobs.length);
  await inBatches(
    db,
    blobs,
    batches,
    // Rows first, in one transaction: a reader never finds a row whose file is gone.
    (batch) => batch.filter((b) => q.deleteBlob.run({ cutoff, digest: b.digest }).changes > 0).map((b) => b.digest as Digest),
    async (deleted, batch) => {
      const sizes = new Map(batch.map((b) => [b.digest, b.size]));
      await Promise.all(
        deleted.map((digest) =>
          files(async () => {
            // Await first, then add: `summary.bytes += await ...` would read the total before the await.
            const freed = ctx.dryRun ? (sizes.get(digest) ?? 0) : await removeContent(config.registry_storage, digest, cutoff, () => q.blobKnown.get(digest) !== undefined);
            summary.blobs++;
            summary.bytes += freed;
            items?.push({ store: 'registry', kind: 'blob', digest, size: sizes.get(digest) ?? freed });
            progress.tick();
          }),
        ),
      );
    },
  );
  progress.stop();

  const uploadCutoff = ctx.now - Math.max(config.gc.upload_max_age, ctx.grace);
  for (const { id, repository } of q.staleUploads.all(uploadCutoff)) {
    if (q.deleteUpload.run(id, uploadCutoff).changes === 0) continue;
    summary.uploads++;
    const freed = (await removeFile(uploadPath(config.temporary_registry_storage, id), ctx.dryRun)) ?? 0;
    summary.bytes += freed;
    items?.push({ store: 'registry', kind: 'upload', repository, id, size: freed });
  }

  const kept = q.graceKeptBlobs.get() ?? { blobs: 0, bytes: 0 };
  summary.keptByGrace.blobs = kept.blobs;
  summary.keptByGrace.bytes = kept.bytes;
  if (items) sortStoreItems(items, 'registry');

  logger.info({ ...summary, dry_run: ctx.dryRun }, ctx.dryRun ? 'gc: registry store done (dry run: the counts are what it would delete)' : 'gc: registry store done');
  return summary;
}

/** Sorts the items of `store` (the last ones added) in place: concurrent removals add them in any order. */
export function sortStoreItems(items: GcItem[], store: GcItem['store']): void {
  const first = items.findIndex((i) => i.store === store);
  if (first < 0) return;
  items.splice(first, items.length - first, ...sortItems(items.slice(first)));
}
