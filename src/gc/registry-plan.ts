/**
 * What a collection of the local registry deletes, computed from one snapshot of the index
 * (GcIndex.registryGraph) without writing anything: a dry run reports it, a real run applies
 * it step by step with deletes that re-state their conditions. The steps cascade as the
 * deletes do: untagged manifests go (with their references), then links no remaining manifest
 * of the repository references (or is), then repositories left with neither, then blobs
 * nothing remaining holds. Nothing younger than `cutoff` is taken at any step.
 */
import type { BlobRow, ManifestKey, RegistryGraph } from '../storage/gc-index.js';
import { untaggedManifests } from './untagged.js';

export interface RegistryPlan {
  manifests: ManifestKey[];
  links: ManifestKey[];
  repositories: number[];
  blobs: BlobRow[];
  /** What nothing references any more but the grace period keeps (see StoreSummary). */
  keptByGrace: { blobs: number; bytes: number; manifests: number };
}

const key = (repo: number, digest: string): string => `${repo}\n${digest}`;

export function planRegistry(graph: RegistryGraph, cutoff: number, deleteUntagged: boolean): RegistryPlan {
  const manifests = deleteUntagged ? untaggedManifests(graph, cutoff) : [];
  const doomed = new Set(manifests.map((m) => key(m.repository_id, m.digest)));
  const remaining = graph.manifests.filter((m) => !doomed.has(key(m.repository_id, m.digest)));
  // A manifest's references go with it (ON DELETE CASCADE).
  const references = graph.references.filter((r) => !doomed.has(key(r.repository_id, r.manifest_digest)));
  const keptManifests = deleteUntagged
    ? untaggedManifests({ manifests: remaining, tagged: graph.tagged, references }, Infinity).length
    : 0;

  const inRepository = new Set(remaining.map((m) => key(m.repository_id, m.digest)));
  for (const r of references) if (r.kind === 'blob') inRepository.add(key(r.repository_id, r.child_digest));
  const isLinkGarbage = (l: RegistryGraph['links'][number]): boolean => l.created_at < cutoff && !inRepository.has(key(l.repository_id, l.digest));
  const links = graph.links.filter(isLinkGarbage).map((l) => ({ repository_id: l.repository_id, digest: l.digest }));
  const keptLinks = graph.links.filter((l) => !isLinkGarbage(l));

  const occupied = new Set([...remaining.map((m) => m.repository_id), ...keptLinks.map((l) => l.repository_id)]);
  const repositories = graph.repositories.filter((r) => !occupied.has(r.id)).map((r) => r.id);

  // Held by a manifest: referenced as a blob, or some manifest's own content.
  const held = new Set(remaining.map((m) => m.digest));
  for (const r of references) if (r.kind === 'blob') held.add(r.child_digest);
  const linked = new Set(keptLinks.map((l) => l.digest));
  const blobs: BlobRow[] = [];
  const kept = { blobs: 0, bytes: 0 };
  for (const b of graph.blobs) {
    if (held.has(b.digest)) continue;
    if (b.created_at < cutoff && !linked.has(b.digest)) {
      blobs.push(b);
      continue;
    }
    // Only a young row, or a young link to it, keeps this one.
    kept.blobs++;
    kept.bytes += b.size;
  }
  return { manifests, links, repositories, blobs, keptByGrace: { ...kept, manifests: keptManifests } };
}
