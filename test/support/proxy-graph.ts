/** Every row GcIndex.proxyGraph hands over, gathered into arrays (for tests that look at them). */
import type { GcIndex, ProxyBlobRow, ProxyManifestRow, ProxyReferenceRow, ProxyTagRow } from '../../src/storage/gc-index.js';

export interface ProxyRows {
  tags: ProxyTagRow[];
  manifests: ProxyManifestRow[];
  blobs: ProxyBlobRow[];
  references: ProxyReferenceRow[];
}

export async function proxyRows(gc: GcIndex): Promise<ProxyRows> {
  const rows: ProxyRows = { tags: [], manifests: [], blobs: [], references: [] };
  await gc.proxyGraph({
    tag: (r) => rows.tags.push(r),
    manifest: (r) => rows.manifests.push(r),
    blob: (r) => rows.blobs.push(r),
    reference: (r) => rows.references.push(r),
  });
  return rows;
}
