/**
 * The keyset queries of the listings (browse-index.ts, proxy-browse-index.ts), written once for
 * both databases: each differs only in how a parameter is written (`?` / `$1`) and in the
 * substring test. A page after a key is `(sort column, name...) > (key)` as a row value, which
 * both SQLite and PostgreSQL answer by seeking into the index on exactly those columns
 * (migration 010), then reading `limit` rows: no OFFSET, no aggregate.
 */
import type { SortOrder } from './browse-index.js';

export interface Dialect {
  /** The n-th (1-based) parameter. */
  param(n: number): string;
  /** A test that `column` contains parameter n, ASCII case folded. */
  contains(column: string, n: number): string;
}

/** Positional: keysetQuery writes each parameter once, in order. */
export const SQLITE_DIALECT: Dialect = {
  param: () => '?',
  contains: (column) => `instr(lower(${column}), lower(?)) > 0`,
};

export const PG_DIALECT: Dialect = {
  param: (n) => `$${n}`,
  contains: (column, n) => `strpos(lower(${column}), lower($${n})) > 0`,
};

export interface KeysetShape {
  table: string;
  columns: string;
  /** Rows listed at all (e.g. holding a manifest), with parameters 1..whereParams of its own. */
  where: string;
  whereParams?: number;
  /** The sort column, or undefined when the name columns alone order the rows. */
  sortColumn: string | undefined;
  /** The name columns that break ties (and order by name). */
  nameColumns: string[];
  /** The expression the search matches against. */
  searchExpression: string;
  order: SortOrder;
  search: boolean;
  after: boolean;
}

/**
 * The statement and the order of its parameters: the where clause's own, the search term (when `search`), the key's
 * columns (when `after`: the sort value unless sorting by name, then the names), the limit.
 */
export function keysetQuery(dialect: Dialect, shape: KeysetShape): string {
  const keyColumns = shape.sortColumn === undefined ? shape.nameColumns : [shape.sortColumn, ...shape.nameColumns];
  const direction = shape.order === 'asc' ? 'ASC' : 'DESC';
  const conditions = [shape.where];
  let n = (shape.whereParams ?? 0) + 1;
  if (shape.search) conditions.push(dialect.contains(shape.searchExpression, n++));
  if (shape.after) {
    const params = keyColumns.map(() => dialect.param(n++));
    conditions.push(`(${keyColumns.join(', ')}) ${shape.order === 'asc' ? '>' : '<'} (${params.join(', ')})`);
  }
  const orderBy = keyColumns.map((c) => `${c} ${direction}`).join(', ');
  return `SELECT ${shape.columns} FROM ${shape.table} WHERE ${conditions.join(' AND ')} ORDER BY ${orderBy} LIMIT ${dialect.param(n)}`;
}

export const REPOSITORY_COLUMNS = 'name, manifest_count, tag_count, bytes, pushed_at, pulled_at';

export interface RepositoryRow {
  name: string;
  manifest_count: number;
  tag_count: number;
  bytes: number;
  pushed_at: number;
  pulled_at: number;
}

export const REPOSITORY_SORT_COLUMNS = { name: undefined, pushed: 'pushed_at', pulled: 'pulled_at', size: 'bytes' } as const;

export const PROXY_REPOSITORY_COLUMNS = 'upstream, repository, manifest_count, tag_count, bytes, last_read';

export interface ProxyRepositoryRow {
  upstream: string;
  repository: string;
  manifest_count: number;
  tag_count: number;
  bytes: number;
  last_read: number;
}

export const PROXY_SORT_COLUMNS = { name: undefined, pulled: 'last_read', size: 'bytes' } as const;

export const TAG_SORT_COLUMNS = { date: 't.updated_at', name: undefined } as const;

export const TAG_TABLE = 'tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest';
export const TAG_COLUMNS = 't.name AS tag, t.digest, m.media_type, t.updated_at, m.size';

export interface TagRow {
  tag: string;
  digest: string;
  media_type: string;
  updated_at: number;
  size: number;
}

/**
 * Each root manifest's image size: itself and every manifest and blob it references, down the
 * tree (an index's children and theirs), each digest once per root. `repo` is the repository
 * id's parameter, `roots` the expression listing the page's root digests.
 */
export function imageBytesQuery(repo: string, roots: string): string {
  return `WITH RECURSIVE roots(root) AS (${roots}),
tree(root, digest) AS (
  SELECT root, root FROM roots
  UNION
  SELECT tree.root, r.child_digest FROM tree
    JOIN manifest_references r ON r.repository_id = ${repo} AND r.manifest_digest = tree.digest AND r.kind = 'manifest'
),
parts(root, digest, size) AS (
  SELECT tree.root, m.digest, m.size FROM tree JOIN manifests m ON m.repository_id = ${repo} AND m.digest = tree.digest
  UNION
  SELECT tree.root, r.child_digest, b.size FROM tree
    JOIN manifest_references r ON r.repository_id = ${repo} AND r.manifest_digest = tree.digest AND r.kind = 'blob'
    JOIN blobs b ON b.digest = r.child_digest
)
SELECT root, SUM(size) AS bytes FROM parts GROUP BY root`;
}

/** Statements built once per shape, for the life of the index. */
export class StatementCache<S> {
  private readonly built = new Map<string, S>();

  constructor(private readonly build: (sql: string) => S) {}

  get(sql: string): S {
    let s = this.built.get(sql);
    if (s === undefined) {
      s = this.build(sql);
      this.built.set(sql, s);
    }
    return s;
  }
}

/** Per upstream: cached repositories and manifests (from the figures), blobs and bytes (from the blobs, each once). */
export const UPSTREAM_TOTALS_SQL = `
SELECT upstream, SUM(repositories) AS repositories, SUM(manifests) AS manifests, SUM(blobs) AS blobs, SUM(bytes) AS bytes FROM (
  SELECT upstream, COUNT(*) AS repositories, SUM(manifest_count) AS manifests, 0 AS blobs, 0 AS bytes FROM proxy_repository_stats WHERE manifest_count > 0 GROUP BY upstream
  UNION ALL
  SELECT upstream, 0, 0, COUNT(*), SUM(size) FROM proxy_blobs GROUP BY upstream
) AS totals GROUP BY upstream ORDER BY upstream`;

export interface UpstreamTotalsRow {
  upstream: string;
  repositories: number | string;
  manifests: number | string;
  blobs: number | string;
  bytes: number | string;
}

/** PostgreSQL sums come back as strings (bigint/numeric): numbers here. */
export function toUpstreamTotals(row: UpstreamTotalsRow): { upstream: string; repositories: number; manifests: number; blobs: number; bytes: number } {
  return { upstream: row.upstream, repositories: Number(row.repositories), manifests: Number(row.manifests), blobs: Number(row.blobs), bytes: Number(row.bytes) };
}
