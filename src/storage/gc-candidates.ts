/**
 * Shared by the GcIndex backends' registryCandidates: the blobs no manifest holds, split into
 * what GC deletes (older than the cutoff, no young link) and what only the grace period keeps.
 */
import type { BlobRow, RegistryCandidates } from './gc-index.js';

export interface UnheldBlob extends BlobRow {
  /** Whether a link younger than the cutoff names the blob (a boolean, or SQLite's 0/1). */
  young_link: boolean | number;
}

export function splitUnheld(rows: readonly UnheldBlob[], cutoff: number): Pick<RegistryCandidates, 'blobs' | 'keptByGrace'> {
  const blobs: BlobRow[] = [];
  const keptByGrace = { blobs: 0, bytes: 0 };
  for (const b of rows) {
    if (b.created_at < cutoff && !b.young_link) blobs.push({ digest: b.digest, size: b.size, created_at: b.created_at });
    else {
      keptByGrace.blobs++;
      keptByGrace.bytes += b.size;
    }
  }
  return { blobs, keptByGrace };
}
