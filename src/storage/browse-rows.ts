/** Rows of the listing queries (browse-sql.ts) as the records of browse-index.ts, for both databases. */
import type { Digest, RepoName } from '../primitives/types.js';
import type { RepositoryKey, RepositoryQuery, RepositorySummary, TagKey, TagQuery, TagSummary } from './browse-index.js';
import type { ProxyRepositoryKey, ProxyRepositoryQuery, ProxyRepositorySummary } from './proxy-browse-index.js';
import { PROXY_SORT_COLUMNS, REPOSITORY_SORT_COLUMNS, TAG_SORT_COLUMNS, type ProxyRepositoryRow, type RepositoryRow, type TagRow } from './browse-sql.js';

export function toRepositorySummary(row: RepositoryRow): RepositorySummary {
  return { name: row.name as RepoName, manifests: row.manifest_count, tags: row.tag_count, bytes: row.bytes, pushedAt: row.pushed_at, pulledAt: row.pulled_at };
}

export function toProxySummary(row: ProxyRepositoryRow): ProxyRepositorySummary {
  return { upstream: row.upstream, repository: row.repository, manifests: row.manifest_count, tags: row.tag_count, bytes: row.bytes, lastReadAt: row.last_read };
}

export function toTagSummary(row: TagRow, imageBytes: number | undefined): TagSummary {
  return { tag: row.tag, digest: row.digest as Digest, mediaType: row.media_type, pushedAt: row.updated_at, manifestBytes: row.size, imageBytes: imageBytes ?? row.size };
}

/** A search term that filters at all. */
export function searchTerm(q: string | undefined): string | undefined {
  return q === undefined || q === '' ? undefined : q;
}

/** The parameters after the where clause's own: search term, key, limit (browse-sql.ts keysetQuery). */
export function repositoryParams(query: RepositoryQuery): Array<string | number> {
  return [...optional(searchTerm(query.q)), ...keyParams(REPOSITORY_SORT_COLUMNS[query.sort], query.after, (k: RepositoryKey) => [k.name]), query.limit];
}

export function proxyParams(query: ProxyRepositoryQuery): Array<string | number> {
  return [...optional(searchTerm(query.q)), ...keyParams(PROXY_SORT_COLUMNS[query.sort], query.after, (k: ProxyRepositoryKey) => [k.upstream, k.repository]), query.limit];
}

export function tagParams(query: TagQuery): Array<string | number> {
  return [...keyParams(TAG_SORT_COLUMNS[query.sort], query.after, (k: TagKey) => [k.name]), query.limit];
}

function optional(value: string | undefined): string[] {
  return value === undefined ? [] : [value];
}

function keyParams<K extends { value: number }>(sortColumn: string | undefined, key: K | undefined, names: (key: K) => string[]): Array<string | number> {
  if (key === undefined) return [];
  return sortColumn === undefined ? names(key) : [key.value, ...names(key)];
}
