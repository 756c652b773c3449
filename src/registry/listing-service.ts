/** Paginated listings: tags of a repository and the repository catalog (`n`/`last`). */
import type { RegistryIndex } from '../storage/registry-index.js';
import { RegistryError } from './errors.js';
import type { RepoName } from './types.js';

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

  async tags(repo: RepoName, page: PageRequest): Promise<Page> {
    if (!(await this.index.repositoryExists(repo))) {
      throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    }
    return this.paginate(page, (after, limit) => this.index.listTags(repo, after, limit));
  }

  async repositories(page: PageRequest): Promise<Page> {
    return this.paginate(page, (after, limit) => this.index.listRepositories(after, limit));
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
