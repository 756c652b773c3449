/**
 * The listings of the web UI and /api/v1/repositories on SQLite (browse-index.ts,
 * proxy-browse-index.ts): keyset pages over the figures migration 010 keeps by triggers.
 * Reads answer at once; the one write (last pull) goes through the shared SqliteWriter.
 */
import type Database from 'better-sqlite3';
import type { RepoName } from '../../primitives/types.js';
import type { BrowseIndex, RepositoryQuery, RepositorySummary, TagQuery, TagSummary } from '../browse-index.js';
import {
  imageBytesQuery,
  keysetQuery,
  PROXY_REPOSITORY_COLUMNS,
  PROXY_SORT_COLUMNS,
  REPOSITORY_COLUMNS,
  REPOSITORY_SORT_COLUMNS,
  SQLITE_DIALECT,
  StatementCache,
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
import type { SqliteWriter } from './sqlite-writer.js';

export class SqliteBrowseIndex implements BrowseIndex, ProxyBrowseIndex {
  private readonly statements: StatementCache<Database.Statement<unknown[], unknown>>;
  private readonly s;
  private readonly tx;

  constructor(db: Database.Database, writer: SqliteWriter) {
    this.statements = new StatementCache((sql) => db.prepare<unknown[], unknown>(sql));
    this.s = {
      repoId: db.prepare<[string], { id: number }>('SELECT id FROM repositories WHERE name = ?'),
      summary: db.prepare<[string], RepositoryRow>(`SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE name = ? AND manifest_count > 0`),
      imageBytes: db.prepare<{ repo: number; roots: string }, { root: string; bytes: number }>(imageBytesQuery('@repo', 'SELECT value FROM json_each(@roots)')),
      recordPull: db.prepare<[number, string]>('UPDATE repositories SET pulled_at = MAX(pulled_at, ?) WHERE name = ?'),
    };
    this.tx = {
      recordPulls: writer.transaction((pulls: Array<[string, number]>) => {
        for (const [repo, at] of pulls) this.s.recordPull.run(at, repo);
      }),
    };
  }

  async listRepositories(query: RepositoryQuery): Promise<RepositorySummary[]> {
    const sql = keysetQuery(SQLITE_DIALECT, {
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
    return (this.statements.get(sql).all(...repositoryParams(query)) as RepositoryRow[]).map(toRepositorySummary);
  }

  async repositorySummary(repo: RepoName): Promise<RepositorySummary | undefined> {
    const row = this.s.summary.get(repo);
    return row && toRepositorySummary(row);
  }

  async listTags(repo: RepoName, query: TagQuery): Promise<TagSummary[]> {
    const id = this.s.repoId.get(repo)?.id;
    if (id === undefined) return [];
    const sql = keysetQuery(SQLITE_DIALECT, {
      table: TAG_TABLE,
      columns: TAG_COLUMNS,
      where: 't.repository_id = ?',
      whereParams: 1,
      sortColumn: TAG_SORT_COLUMNS[query.sort],
      nameColumns: ['t.name'],
      searchExpression: 't.name',
      order: query.order,
      search: false,
      after: query.after !== undefined,
    });
    const rows = this.statements.get(sql).all(id, ...tagParams(query)) as TagRow[];
    if (rows.length === 0) return [];
    const sizes = new Map(this.s.imageBytes.all({ repo: id, roots: JSON.stringify([...new Set(rows.map((r) => r.digest))]) }).map((r) => [r.root, r.bytes]));
    return rows.map((row) => toTagSummary(row, sizes.get(row.digest)));
  }

  async recordPulls(pulls: ReadonlyMap<RepoName, number>): Promise<void> {
    if (pulls.size > 0) await this.tx.recordPulls([...pulls]);
  }

  async listProxyRepositories(query: ProxyRepositoryQuery): Promise<ProxyRepositorySummary[]> {
    const sql = keysetQuery(SQLITE_DIALECT, {
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
    return (this.statements.get(sql).all(...proxyParams(query)) as ProxyRepositoryRow[]).map(toProxySummary);
  }

  async upstreamTotals(): Promise<ProxyUpstreamTotals[]> {
    return (this.statements.get(UPSTREAM_TOTALS_SQL).all() as UpstreamTotalsRow[]).map(toUpstreamTotals);
  }
}
