/**
 * What a collection of the local registry deletes, computed without writing anything: a dry
 * run reports it, a real run applies it step by step with deletes that re-state their
 * conditions. The steps cascade as the deletes do: untagged manifests go (with their
 * references), then links no remaining manifest of the repository references (or is), then
 * repositories left with neither, then blobs nothing remaining holds. Nothing younger than
 * `cutoff` is taken at any step.
 *
 * Without --delete-untagged the index finds the candidates itself with indexed queries
 * (GcIndex.registryCandidates): only they are read, so the plan costs the same memory on any
 * size of index. With it, the fixed point over child manifests and referrers (untagged.ts) is
 * planned in memory from every row (GcIndex.registryGraph), and so is everything after it.
 */
import type { BlobRow, GcIndex, ManifestKey, RegistryCandidates, RegistryGraph } from '../storage/gc-index.js';
import { untaggedManifests } from './untagged.js';

export interface RegistryPlan {
  manifests: Array<ManifestKey & { repository: string; size: number }>;
  links: Array<ManifestKey & { repository: string; size: number | null }>;
  repositories: Array<{ id: number; name: string }>;
  blobs: BlobRow[];
  /** What nothing references any more but the grace period keeps (see StoreSummary). */
  keptByGrace: { blobs: number; bytes: number; manifests: number };
}

const key = (repo: number, digest: string): string => `${repo}\n${digest}`;

export async function planRegistry(index: GcIndex, cutoff: number, deleteUntagged: boolean): Promise<RegistryPlan> {
  if (deleteUntagged) return planInMemory(await index.registryGraph(), cutoff, true);
  return fromCandidates(await index.registryCandidates(cutoff));
}

function fromCandidates(c: RegistryCandidates): RegistryPlan {
  return { manifests: [], links: c.links, repositories: c.repositories, blobs: c.blobs, keptByGrace: { ...c.keptByGrace, manifests: 0 } };
}

/**
 * The whole plan from every row, untagged manifests first when `deleteUntagged` (without it,
 * the same plan as registryCandidates: the contract tests hold the two to each other).
 */
export function planInMemory(graph: RegistryGraph, cutoff: number, deleteUntagged: boolean): RegistryPlan {
  const names = new Map(graph.repositories.map((r) => [r.id, r.name]));
  const blobSizes = new Map(graph.blobs.map((b) => [b.digest, b.size]));
  const untagged = deleteUntagged ? untaggedManifests(graph, cutoff) : [];
  const doomed = new Set(untagged.map((m) => key(m.repository_id, m.digest)));
  const sizes = new Map(graph.manifests.map((m) => [key(m.repository_id, m.digest), m.size]));
  const manifests = untagged.map((m) => ({ ...m, repository: names.get(m.repository_id) ?? '', size: sizes.get(key(m.repository_id, m.digest)) ?? 0 }));
  const remaining = graph.manifests.filter((m) => !doomed.has(key(m.repository_id, m.digest)));
  // A manifest's references go with it (ON DELETE CASCADE).
  const references = graph.references.filter((r) => !doomed.has(key(r.repository_id, r.manifest_digest)));
  const keptManifests = deleteUntagged ? untaggedManifests({ manifests: remaining, tagged: graph.tagged, references }, Infinity).length : 0;

  const inRepository = new Set(remaining.map((m) => key(m.repository_id, m.digest)));
  for (const r of references) if (r.kind === 'blob') inRepository.add(key(r.repository_id, r.child_digest));
  const isLinkGarbage = (l: RegistryGraph['links'][number]): boolean => l.created_at < cutoff && !inRepository.has(key(l.repository_id, l.digest));
  const links = graph.links
    .filter(isLinkGarbage)
    .map((l) => ({ repository_id: l.repository_id, digest: l.digest, repository: names.get(l.repository_id) ?? '', size: blobSizes.get(l.digest) ?? null }));
  const keptLinks = graph.links.filter((l) => !isLinkGarbage(l));

  const occupied = new Set([...remaining.map((m) => m.repository_id), ...keptLinks.map((l) => l.repository_id)]);
  const repositories = graph.repositories.filter((r) => !occupied.has(r.id));

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
