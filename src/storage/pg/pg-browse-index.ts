/**
 * The listings of the web UI and /api/v1/repositories on PostgreSQL (browse-index.ts,
 * proxy-browse-index.ts): the same keyset statements as SQLite's (browse-sql.ts), over the
 * figures migration 010's triggers keep. The last-pull write is one statement per batch, READ
 * COMMITTED: it only ever raises pulled_at, so concurrent writers of a row need no retry.
 */
import type { RepoName } from '../../primitives/types.js';
import type { BrowseIndex, RepositoryQuery, RepositorySummary, TagQuery, TagSummary } from '../browse-index.js';
import {
  imageBytesQuery,
  keysetQuery,
  PG_DIALECT,
  PROXY_REPOSITORY_COLUMNS,
  PROXY_SORT_COLUMNS,
  REPOSITORY_COLUMNS,
  REPOSITORY_SORT_COLUMNS,
  TAG_COLUMNS,
  TAG_SORT_COLUMNS,
  TAG_TABLE,
  type ProxyRepositoryRow,
  type RepositoryRow,
  type TagRow,
} from '../browse-sql.js';
import { proxyParams, repositoryParams, searchTerm, tagParams, toProxySummary, toRepositorySummary, toTagSummary } from '../browse-rows.js';
import type { ProxyBrowseIndex, ProxyRepositoryQuery, ProxyRepositorySummary, ProxyUpstreamTotals } from '../proxy-browse-index.js';
import { toUpstreamTotals, UPSTREAM_TOTALS_SQL, type UpstreamTotalsRow } from '../browse-sql.js';
import type { PgPool } from './pg-pool.js';

const SQL = {
  repoId: 'SELECT id FROM repositories WHERE name = $1',
  summary: `SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE name = $1 AND manifest_count > 0`,
  imageBytes: imageBytesQuery('$1', 'SELECT unnest($2::text[]) COLLATE "C"'),
  recordPulls: `UPDATE repositories r SET pulled_at = p.at FROM unnest($1::text[], $2::bigint[]) AS p(name, at)
                WHERE r.name = p.name AND r.pulled_at < p.at`,
} as const;

export class PgBrowseIndex implements BrowseIndex, ProxyBrowseIndex {
  constructor(private readonly db: PgPool) {}

  async listRepositories(query: RepositoryQuery): Promise<RepositorySummary[]> {
    const sql = keysetQuery(PG_DIALECT, {
      table: 'repositories',
      columns: REPOSITORY_COLUMNS,
      where: 'manifest_count > 0',
      sortColumn: REPOSITORY_SORT_COLUMNS[query.sort],
      nameColumns: ['name'],
      searchExpression: 'name',
      order: query.order,
      search: searchTerm(query.q) !== undefined,
      after: query.after !== undefined,
    });
    return (await this.db.rows<RepositoryRow>(sql, repositoryParams(query))).map(toRepositorySummary);
  }

  async repositorySummary(repo: RepoName): Promise<RepositorySummary | undefined> {
    const row = await this.db.one<RepositoryRow>(SQL.summary, [repo]);
    return row && toRepositorySummary(row);
  }

  async listTags(repo: RepoName, query: TagQuery): Promise<TagSummary[]> {
    const id = (await this.db.one<{ id: number }>(SQL.repoId, [repo]))?.id;
    if (id === undefined) return [];
    const sql = keysetQuery(PG_DIALECT, {
      table: TAG_TABLE,
      columns: TAG_COLUMNS,
      where: 't.repository_id = $1',
      whereParams: 1,
      sortColumn: TAG_SORT_COLUMNS[query.sort],
      nameColumns: ['t.name'],
      searchExpression: 't.name',
      order: query.order,
      search: false,
      after: query.after !== undefined,
    });
    const rows = await this.db.rows<TagRow>(sql, [id, ...tagParams(query)]);
    if (rows.length === 0) return [];
    const sizes = new Map((await this.db.rows<{ root: string; bytes: number | string }>(SQL.imageBytes, [id, [...new Set(rows.map((r) => r.digest))]])).map((r) => [r.root, Number(r.bytes)]));
    return rows.map((row) => toTagSummary(row, sizes.get(row.digest)));
  }

  async recordPulls(pulls: ReadonlyMap<RepoName, number>): Promise<void> {
    if (pulls.size === 0) return;
    await this.db.run(SQL.recordPulls, [[...pulls.keys()], [...pulls.values()]]);
  }

  async listProxyRepositories(query: ProxyRepositoryQuery): Promise<ProxyRepositorySummary[]> {
    const sql = keysetQuery(PG_DIALECT, {
      table: 'proxy_repository_stats',
      columns: PROXY_REPOSITORY_COLUMNS,
      where: 'manifest_count > 0',
      sortColumn: PROXY_SORT_COLUMNS[query.sort],
      nameColumns: ['upstream', 'repository'],
      searchExpression: "upstream || '/' || repository",
      order: query.order,
      search: searchTerm(query.q) !== undefined,
      after: query.after !== undefined,
    });
    return (await this.db.rows<ProxyRepositoryRow>(sql, proxyParams(query))).map(toProxySummary);
  }

  async upstreamTotals(): Promise<ProxyUpstreamTotals[]> {
    return (await this.db.rows<UpstreamTotalsRow>(UPSTREAM_TOTALS_SQL, [])).map(toUpstreamTotals);
  }
}
