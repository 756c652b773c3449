/** Every row GcIndex.proxyGraph hands over, gathered into arrays (for tests that look at them). */
import type { GcIndex, ProxyBlobRow, ProxyManifestRow, ProxyPinRow, ProxyReferenceRow, ProxyTagRow } from '../../src/storage/gc-index.js';

export interface ProxyRows {
  pins: ProxyPinRow[];
  tags: ProxyTagRow[];
  manifests: ProxyManifestRow[];
  blobs: ProxyBlobRow[];
  references: ProxyReferenceRow[];
}

export async function proxyRows(gc: GcIndex): Promise<ProxyRows> {
  const rows: ProxyRows = { pins: [], tags: [], manifests: [], blobs: [], references: [] };
  await gc.proxyGraph({
    pin: (r) => rows.pins.push(r),
    tag: (r) => rows.tags.push(r),
    manifest: (r) => rows.manifests.push(r),
    blob: (r) => rows.blobs.push(r),
    reference: (r) => rows.references.push(r),
  });
  return rows;
}
