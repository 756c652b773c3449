/**
 * Mark and sweep of the local registry, from the index (no walk of the store to decide what
 * is live):
 *   1. files the index does not know (a crash between write and index), stale temp files;
 *   2. with --delete-untagged, manifests no tag reaches (untagged.ts);
 *   3. repository links to blobs that no manifest of that repository references, then
 *      repositories left with no manifest and no link;
 *   4. blobs no repository links and no manifest references, then their files;
 *   5. upload sessions untouched for gc.upload_max_age.
 * Nothing younger than the grace period is deleted at any step.
 */
import type { Digest } from '../registry/types.js';
import { uploadPath } from '../storage/paths.js';
import type { GcContext } from './context.js';
import { removeContent, removeFile, removeStray, strayContent, strayTemporary, type StrayFile } from './file-sweeper.js';
import { emptySummary, type StoreSummary } from './summary.js';
import { untaggedManifests } from './untagged.js';
import pLimit from 'p-limit';

const BATCH = 500;
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
        }
        ctx.progress.tick();
      }),
    ),
  );
  ctx.progress.stop();
}

export async function collectRegistry(ctx: GcContext, options: { deleteUntagged: boolean }): Promise<StoreSummary> {
  const { db, q, config, logger, progress } = ctx;
  const summary = emptySummary('registry');
  const files = pLimit(FILE_CONCURRENCY);
  const cutoff = ctx.now - config.gc.grace;

  // Files unknown to the index before anything is deleted here (so a dry run, which deletes
  // rows in a copy only, does not count what it would delete twice).
  const stray = [
    ...(await strayContent(config.registry_storage, cutoff, (d) => q.blobKnown.get(d) !== undefined)),
    ...(await strayTemporary(config.temporary_registry_storage, cutoff, (id) => q.uploadKnown.get(id) !== undefined)),
  ];
  await sweepStray(ctx, 'registry orphans', stray, cutoff, summary);

  if (options.deleteUntagged) {
    const doomed = untaggedManifests({ manifests: q.manifests.all(), tagged: q.tagged.all(), children: q.childEdges.all() }, cutoff);
    for (let i = 0; i < doomed.length; i += BATCH) {
      db.transaction(() => {
        for (const m of doomed.slice(i, i + BATCH)) summary.manifests += q.deleteUntaggedManifest.run(m.repository_id, m.digest).changes;
      })();
    }
    logger.info({ store: 'registry', manifests: summary.manifests }, 'gc: untagged manifests deleted');
  }

  const links = q.unreferencedLinks.all({ cutoff });
  for (let i = 0; i < links.length; i += BATCH) {
    db.transaction(() => {
      for (const l of links.slice(i, i + BATCH)) summary.links += q.deleteLink.run({ cutoff, ...l }).changes;
    })();
  }

  summary.repositories += q.deleteEmptyRepositories.run().changes;

  const blobs = q.unreferencedBlobs.all({ cutoff });
  await progress.start('registry blobs', blobs.length);
  for (let i = 0; i < blobs.length; i += BATCH) {
    const batch = blobs.slice(i, i + BATCH);
    const deleted: Digest[] = [];
    // Rows first, in one transaction: a reader never finds a row whose file is gone.
    db.transaction(() => {
      for (const b of batch) if (q.deleteBlob.run({ cutoff, digest: b.digest }).changes > 0) deleted.push(b.digest as Digest);
    })();
    const sizes = new Map(batch.map((b) => [b.digest, b.size]));
    await Promise.all(
      deleted.map((digest) =>
        files(async () => {
          // Await first, then add: `summary.bytes += await ...` would read the total before the await.
          const freed = ctx.dryRun ? (sizes.get(digest) ?? 0) : await removeContent(config.registry_storage, digest, cutoff, () => q.blobKnown.get(digest) !== undefined);
          summary.blobs++;
          summary.bytes += freed;
          progress.tick();
        }),
      ),
    );
  }
  progress.stop();

  const uploadCutoff = ctx.now - Math.max(config.gc.upload_max_age, config.gc.grace);
  for (const { id } of q.staleUploads.all(uploadCutoff)) {
    if (q.deleteUpload.run(id, uploadCutoff).changes === 0) continue;
    summary.uploads++;
    summary.bytes += (await removeFile(uploadPath(config.temporary_registry_storage, id), ctx.dryRun)) ?? 0;
  }

  logger.info({ ...summary }, 'gc: registry store done');
  return summary;
}
