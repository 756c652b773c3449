/**
 * The summary `scripts/gc` prints for a person (without --json): one line per store with
 * counted nouns, why a run kept what only the grace period protects, and with --verbose /
 * --list one line per item deleted (or, in a dry run, that would be).
 */
import { count, formatBytes } from '../cli/format.js';
import { formatDuration } from '../config/units.js';
import type { GcItem, GcSummary, StoreSummary } from './summary.js';

function storeLine(s: StoreSummary, dryRun: boolean): string {
  const counts = [
    count(s.blobs, 'blob'),
    count(s.manifests, 'manifest'),
    count(s.tags, 'tag'),
    count(s.links, 'repository link'),
    ...(s.store === 'registry' ? [count(s.repositories, 'empty repository', 'empty repositories')] : []),
    count(s.uploads, 'upload session'),
    count(s.orphans, 'orphaned file'),
  ];
  return `${s.store}: ${dryRun ? 'would free' : 'freed'} ${formatBytes(s.bytes)} — ${counts.join(', ')}`;
}

/** Why a run freed less than it might: what nothing references but the grace period kept. */
function graceLine(s: StoreSummary, graceMs: number): string | undefined {
  const { blobs, bytes, manifests } = s.keptByGrace;
  const parts = [...(manifests > 0 ? [count(manifests, 'untagged manifest')] : []), ...(blobs > 0 ? [`${count(blobs, 'blob')} (${formatBytes(bytes)})`] : [])];
  if (parts.length === 0) return undefined;
  const hint = graceMs > 0 ? '; run with --grace 0s to free them now' : '';
  return `${s.store}: ${parts.join(' and ')} younger than the ${formatDuration(graceMs)} grace period kept${hint}`;
}

function itemLine(item: GcItem, dryRun: boolean): string {
  const size = item.size !== undefined ? ` (${formatBytes(item.size)})` : '';
  const what = ((): string => {
    switch (item.kind) {
      case 'manifest':
        return `manifest ${item.repository}@${item.digest}${size}`;
      case 'tag':
        return `tag ${item.repository}:${item.tag} → ${item.digest}`;
      case 'link':
        return `repository link ${item.repository} → ${item.digest}${size}`;
      case 'repository':
        return `empty repository ${item.repository}`;
      case 'blob':
        return `blob ${item.digest}${size}`;
      case 'upload':
        return `upload session ${item.id} of ${item.repository}${size}`;
      case 'orphan':
        // Where it was: a leftover's path, content under its digest, an upload session's bytes.
        return `orphaned file ${item.path ?? (item.digest !== undefined ? `with content ${item.digest}` : `of upload session ${item.id}`)}${size}`;
    }
  })();
  return `${item.store}: ${dryRun ? 'would delete' : 'deleted'} ${what}`;
}

export function formatHuman(summary: GcSummary): string {
  const lines = [
    ...(summary.items ?? []).map((i) => itemLine(i, summary.dryRun)),
    ...summary.stores.flatMap((s) => [storeLine(s, summary.dryRun), ...[graceLine(s, summary.graceMs)].filter((l): l is string => l !== undefined)]),
    `${summary.dryRun ? 'dry run, nothing deleted; ' : ''}took ${summary.durationMs} ms`,
  ];
  return `${lines.join('\n')}\n`;
}
