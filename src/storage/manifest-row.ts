/** A manifest as both index backends store it (table manifests), and its record for the registry. */
import type { Digest } from '../primitives/types.js';
import type { ManifestRecord } from './registry-index.js';

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject: string | null;
  annotations: string | null;
}

/** The columns of a ManifestRow, from the manifests table aliased `m`. */
export const MANIFEST_COLUMNS = 'm.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations';

export function toRecord(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: row.size,
    artifactType: row.artifact_type,
    subject: row.subject as Digest | null,
    annotations: row.annotations,
  };
}
