/**
 * What a store holds that the index does not know: content left by a crash between write and
 * index, leftovers of interrupted writes, upload bytes whose session is gone. Found by a scan
 * that reads only (a dry run stops there and counts it); a real run then removes each one
 * through the store, checked again at the last moment (BlobSweeper.removeUnwanted): the scan
 * may have taken long, and content pushed again since is kept.
 */
import pLimit from 'p-limit';
import type { BlobSweeper, Leftover, StoredBlob } from '../storage/blob-store.js';
import type { UploadSession } from '../storage/upload-store.js';
import { BATCH_ROWS } from './batches.js';
import type { GcContext } from './context.js';
import type { GcUploads } from './wiring.js';
import type { StoreSummary } from './summary.js';
import { coalescedKnown } from './coalesced-known.js';

export interface OrphanSource {
  blobs: BlobSweeper;
  /** Which of these digests the index knows. */
  known: (digests: readonly string[]) => Promise<Set<string>>;
  /** The registry's upload sessions (listed once by the caller) and which ids the index knows. */
  uploads?: { store: GcUploads; sessions: readonly UploadSession[]; known: (ids: readonly string[]) => Promise<Set<string>> };
}

async function unknownOf<T>(rows: readonly T[], id: (row: T) => string, known: (ids: readonly string[]) => Promise<Set<string>>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const batch = rows.slice(i, i + BATCH_ROWS);
    const hit = await known(batch.map(id));
    out.push(...batch.filter((r) => !hit.has(id(r))));
  }
  return out;
}

/**
 * Finds the orphans of a store older than `cutoff` and (in a real run) removes them. The phase
 * is announced, and awaited, between the scan and the first removal.
 */
export async function sweepOrphans(ctx: GcContext, phase: string, source: OrphanSource, cutoff: number, summary: StoreSummary): Promise<void> {
  const leftovers: Leftover[] = [];
  for await (const l of source.blobs.leftovers(cutoff)) if (!ctx.leftoversSeen.has(l.name)) leftovers.push(l);
  const old: StoredBlob[] = [];
  for await (const b of source.blobs.list(source.known)) if (b.modified < cutoff) old.push(b);
  const content = await unknownOf(old, (b) => b.digest, source.known);
  const uploads = source.uploads;
  const strayUploads = uploads
    ? await unknownOf(
        uploads.sessions.filter((s) => s.modified < cutoff),
        (s) => s.id,
        uploads.known,
      )
    : [];

  const orphan = (size: number, where: { path: string } | { digest: string } | { id: string }): void => {
    summary.orphans++;
    summary.bytes += size;
    ctx.items?.push({ store: summary.store, kind: 'orphan', ...where, size });
    ctx.progress.tick();
  };
  await ctx.progress.start(phase, leftovers.length + content.length + strayUploads.length);
  if (ctx.dryRun) {
    for (const l of leftovers) {
      ctx.leftoversSeen.add(l.name);
      orphan(l.size, { path: l.name });
    }
    for (const b of content) orphan(b.size, { digest: b.digest });
    for (const s of strayUploads) orphan(s.size, { id: s.id });
    ctx.progress.stop();
    return;
  }
  await source.blobs.sweepLeftovers(cutoff, (l) => {
    ctx.leftoversSeen.add(l.name);
    orphan(l.size, { path: l.name });
  });
  const files = pLimit(source.blobs.removalConcurrency);
  const knownAgain = coalescedKnown((digests) => source.known(digests));
  await Promise.all(
    content.map((b) =>
      files(async () => {
        const freed = await source.blobs.removeUnwanted(b.digest, cutoff, () => knownAgain(b.digest));
        if (freed > 0) orphan(freed, { digest: b.digest });
        else ctx.progress.tick();
      }),
    ),
  );
  for (const s of strayUploads) {
    // A session the index knows again is not an orphan (the index row comes after the bytes).
    if (uploads && !(await uploads.known([s.id])).has(s.id)) {
      await uploads.store.remove(s.id);
      orphan(s.size, { id: s.id });
    } else ctx.progress.tick();
  }
  ctx.progress.stop();
}
