/**
 * Paginated listings: tags of a repository and the repository catalog (`n`/`last`).
 * The catalog is filtered before it is paginated: a page, and the `last` of its next link,
 * only ever hold names the caller may see, so walking the catalog reveals nothing hidden.
 */
import type { RegistryIndex } from '../storage/registry-index.js';
import { RegistryError } from '../primitives/errors.js';
import type { RepoName } from '../primitives/types.js';

export interface Page {
  items: string[];
  /** Set when more items follow: the `last` value for the next page. */
  next?: string;
}

export interface PageRequest {
  n?: number;
  last?: string;
}

export class ListingService {
  constructor(
    private readonly index: RegistryIndex,
    private readonly maxPage: number,
  ) {}

  /** Whether the local registry has a repository of this name (anything was pushed to it). */
  exists(repo: RepoName): Promise<boolean> {
    return this.index.repositoryExists(repo);
  }

  async tags(repo: RepoName, page: PageRequest): Promise<Page> {
    if (!(await this.index.repositoryExists(repo))) {
      throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    }
    return this.paginate(page, (after, limit) => this.index.listTags(repo, after, limit));
  }

  /** `visible` says which repositories the caller may see (with auth on); the rest are skipped, not counted. */
  async repositories(page: PageRequest, visible?: (repo: string) => boolean): Promise<Page> {
    if (!visible) return this.paginate(page, (after, limit) => this.index.listRepositories(after, limit));
    return this.paginate(page, (after, limit) => this.visibleRepositories(after, limit, visible));
  }

  /** Up to `limit` visible names after `after`, reading the index in batches past hidden ones. */
  private async visibleRepositories(after: string | undefined, limit: number, visible: (repo: string) => boolean): Promise<string[]> {
    const batch = Math.max(limit, 100);
    const found: string[] = [];
    let cursor = after;
    for (;;) {
      const rows = await this.index.listRepositories(cursor, batch);
      for (const row of rows) {
        if (visible(row)) found.push(row);
        if (found.length === limit) return found;
      }
      if (rows.length < batch) return found;
      cursor = rows[rows.length - 1];
    }
  }

  private async paginate(page: PageRequest, fetch: (after: string | undefined, limit: number) => Promise<string[]>): Promise<Page> {
    const limit = Math.min(page.n ?? this.maxPage, this.maxPage);
    if (limit === 0) return { items: [] };
    const rows = await fetch(page.last, limit + 1);
    if (rows.length <= limit) return { items: rows };
    const items = rows.slice(0, limit);
    return { items, next: items[items.length - 1] as string };
  }
}
