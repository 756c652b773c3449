/**
 * The local registry's repository and tag listings for the web UI and /api/v1/repositories:
 * search, sort, and keyset pages behind an opaque cursor (browse-cursor.ts), read from the
 * figures the index keeps per repository (storage/browse-index.ts). With auth on the caller
 * passes `visible` and sees only what it may pull (browse-page.ts: hidden rows are skipped,
 * never counted or named in a cursor).
 *
 * Defaults: sort by name ascending; pushed, pulled and size descending (newest, largest
 * first); tags by date, newest first; by name ascending. `n` is capped at the listings' page
 * limit (limits.max_list_page).
 */
import { RegistryError } from '../primitives/errors.js';
import type { RepoName } from '../primitives/types.js';
import type { BrowseIndex, RepositoryKey, RepositorySort, RepositorySummary, SortOrder, TagKey, TagSort, TagSummary } from '../storage/browse-index.js';
import { decodeCursor, encodeCursor } from './browse-cursor.js';
import { keysetPage } from './browse-page.js';

export type { RepositorySort, RepositorySummary, SortOrder, TagSort, TagSummary } from '../storage/browse-index.js';

export const DEFAULT_BROWSE_PAGE = 100;

export interface RepositoryListRequest {
  /** Case-insensitive (ASCII) substring of the name. */
  q?: string;
  sort?: RepositorySort;
  order?: SortOrder;
  /** Page size, 1..limit (larger is capped); default 100 or the limit, whichever is less. */
  n?: number;
  /** The `next` of the previous page, for the same q, sort and order. */
  cursor?: string;
  /** With auth on: whether the caller may see (pull) a repository. */
  visible?: (name: string) => boolean;
}

export interface BrowsePage<T> {
  items: T[];
  /** The cursor of the next page; undefined on the last. */
  next?: string;
}

export interface TagListRequest {
  sort?: TagSort;
  order?: SortOrder;
  n?: number;
  cursor?: string;
}

export const REPOSITORY_SORTS: readonly RepositorySort[] = ['name', 'pushed', 'pulled', 'size'];
export const TAG_SORTS: readonly TagSort[] = ['date', 'name'];

/** The order a sort uses unless told: names A to Z, figures largest (latest) first. */
export function defaultOrder(sort: string): SortOrder {
  return sort === 'name' ? 'asc' : 'desc';
}

/** The page size asked for, checked and capped. */
export function pageSize(n: number | undefined, max: number): number {
  if (n === undefined) return Math.min(DEFAULT_BROWSE_PAGE, max);
  if (!Number.isSafeInteger(n) || n < 1) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a positive integer', { n });
  return Math.min(n, max);
}

const REPOSITORY_VALUE: Record<RepositorySort, (r: RepositorySummary) => number> = {
  name: () => 0,
  pushed: (r) => r.pushedAt,
  pulled: (r) => r.pulledAt,
  size: (r) => r.bytes,
};

export class BrowseService {
  constructor(
    private readonly index: BrowseIndex,
    private readonly maxPage: number,
  ) {}

  async repositories(request: RepositoryListRequest = {}): Promise<BrowsePage<RepositorySummary>> {
    const sort = request.sort ?? 'name';
    const order = request.order ?? defaultOrder(sort);
    const q = request.q ?? '';
    const limit = pageSize(request.n, this.maxPage);
    const listing = { sort, order, q };
    const start = request.cursor === undefined ? undefined : decodeCursor(request.cursor, listing, 1);
    const after: RepositoryKey | undefined = start && { value: start.value, name: start.names[0] as string };
    const valueOf = REPOSITORY_VALUE[sort];
    const keyOf = (r: RepositorySummary): RepositoryKey => ({ value: valueOf(r), name: r.name });
    const visible = request.visible;
    const page = await keysetPage(
      (from, rows) => this.index.listRepositories({ q, sort, order, limit: rows, ...(from ? { after: from } : {}) }),
      keyOf,
      after,
      limit,
      visible && ((r: RepositorySummary) => visible(r.name)),
    );
    const last = page.items[page.items.length - 1];
    return { items: page.items, ...(page.more && last ? { next: encodeCursor(listing, { value: valueOf(last), names: [last.name] }) } : {}) };
  }

  /** One repository's figures; NAME_UNKNOWN when it holds no manifest. */
  async repository(repo: RepoName): Promise<RepositorySummary> {
    const summary = await this.index.repositorySummary(repo);
    if (!summary) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    return summary;
  }

  /** A page of the repository's tags; NAME_UNKNOWN when it holds no manifest. The caller checks access to `repo`. */
  async tags(repo: RepoName, request: TagListRequest = {}): Promise<BrowsePage<TagSummary>> {
    const sort = request.sort ?? 'date';
    const order = request.order ?? defaultOrder(sort === 'date' ? 'pushed' : 'name');
    const limit = pageSize(request.n, this.maxPage);
    const listing = { sort, order, q: '' };
    const start = request.cursor === undefined ? undefined : decodeCursor(request.cursor, listing, 1);
    if (start === undefined && !(await this.index.repositorySummary(repo))) {
      throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    }
    const after: TagKey | undefined = start && { value: start.value, name: start.names[0] as string };
    const valueOf = (t: TagSummary): number => (sort === 'date' ? t.pushedAt : 0);
    const page = await keysetPage(
      (from, rows) => this.index.listTags(repo, { sort, order, limit: rows, ...(from ? { after: from } : {}) }),
      (t) => ({ value: valueOf(t), name: t.tag }),
      after,
      limit,
      undefined,
    );
    const last = page.items[page.items.length - 1];
    return { items: page.items, ...(page.more && last ? { next: encodeCursor(listing, { value: valueOf(last), names: [last.tag] }) } : {}) };
  }
}
