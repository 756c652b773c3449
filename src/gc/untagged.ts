/**
 * Which manifests `--delete-untagged` may delete: those no tag reaches. A manifest is kept
 * if it is tagged or younger than the grace period, if a kept index lists it, if it is the
 * subject of a kept referrer, or if it is a referrer whose subject is kept (signatures and
 * SBOMs of kept images stay). Computed per repository to a fixed point.
 */
import type { ManifestEdge, ManifestKey, ManifestNode } from '../storage/gc-index.js';

export interface ManifestGraph {
  manifests: readonly ManifestNode[];
  tagged: readonly ManifestKey[];
  /** Blob references are ignored: only child manifests keep manifests. */
  references: readonly ManifestEdge[];
}

const key = (repo: number, digest: string): string => `${repo}\n${digest}`;

/** The manifests (repository id, digest) to delete. */
export function untaggedManifests(graph: ManifestGraph, cutoff: number): ManifestKey[] {
  const byKey = new Map(graph.manifests.map((m) => [key(m.repository_id, m.digest), m]));
  const childrenOf = new Map<string, string[]>();
  for (const e of graph.references) {
    if (e.kind !== 'manifest') continue;
    const k = key(e.repository_id, e.manifest_digest);
    childrenOf.set(k, [...(childrenOf.get(k) ?? []), key(e.repository_id, e.child_digest)]);
  }
  const referrersOf = new Map<string, string[]>();
  for (const m of graph.manifests) {
    if (m.subject === null) continue;
    const k = key(m.repository_id, m.subject);
    referrersOf.set(k, [...(referrersOf.get(k) ?? []), key(m.repository_id, m.digest)]);
  }
  const kept = new Set<string>();
  const queue: string[] = [];
  const keep = (k: string): void => {
    if (!kept.has(k) && byKey.has(k)) {
      kept.add(k);
      queue.push(k);
    }
  };
  for (const t of graph.tagged) keep(key(t.repository_id, t.digest));
  for (const m of graph.manifests) if (m.created_at >= cutoff) keep(key(m.repository_id, m.digest));
  while (queue.length > 0) {
    const k = queue.pop() as string;
    const node = byKey.get(k) as ManifestNode;
    for (const child of childrenOf.get(k) ?? []) keep(child);
    for (const referrer of referrersOf.get(k) ?? []) keep(referrer);
    if (node.subject !== null) keep(key(node.repository_id, node.subject));
  }
  return graph.manifests.filter((m) => !kept.has(key(m.repository_id, m.digest))).map((m) => ({ repository_id: m.repository_id, digest: m.digest }));
}
