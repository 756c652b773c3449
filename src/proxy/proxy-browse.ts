/**
 * The pull-through cache's repository listing for the web UI and
 * /api/v1/repositories?store=proxy: per upstream (or group, as the cache records it) and
 * repository, the cached manifests and tags, bytes and last read, from the figures the index
 * keeps (storage/proxy-browse-index.ts). Same search, sort, cursor and access filtering as
 * the local listing (registry/browse-service.ts); a row is named `proxy/<upstream>/<repository>`,
 * the name clients pull it by and the access rules match.
 */
import type { RepoName } from '../primitives/types.js';
import { decodeCursor, encodeCursor } from '../registry/browse-cursor.js';
import { keysetPage } from '../registry/browse-page.js';
import { defaultOrder, pageSize, type BrowsePage } from '../registry/browse-service.js';
import type { SortOrder } from '../storage/browse-index.js';
import type { ProxyBrowseIndex, ProxyRepositoryKey, ProxyRepositorySort, ProxyRepositorySummary, ProxyUpstreamTotals } from '../storage/proxy-browse-index.js';
import { PROXY_PREFIX } from './proxy-name.js';

export type { ProxyRepositorySort } from '../storage/proxy-browse-index.js';

export interface CachedRepository extends ProxyRepositorySummary {
  /** `proxy/<upstream>/<repository>`. */
  name: RepoName;
}

export interface ProxyRepositoryListRequest {
  /** Case-insensitive (ASCII) substring of `<upstream>/<repository>`. */
  q?: string;
  /** name: by upstream, then repository; pulled: by last read. */
  sort?: ProxyRepositorySort;
  order?: SortOrder;
  n?: number;
  cursor?: string;
  /** With auth on: whether the caller may pull `proxy/<upstream>/<repository>`. */
  visible?: (name: string) => boolean;
}

export const PROXY_REPOSITORY_SORTS: readonly ProxyRepositorySort[] = ['name', 'pulled', 'size'];

const VALUE: Record<ProxyRepositorySort, (r: ProxyRepositorySummary) => number> = {
  name: () => 0,
  pulled: (r) => r.lastReadAt,
  size: (r) => r.bytes,
};

export class ProxyBrowseService {
  constructor(
    private readonly index: ProxyBrowseIndex,
    private readonly maxPage: number,
  ) {}

  /** What the cache holds per upstream or group (repositories, manifests, blobs, bytes), by name. */
  upstreamTotals(): Promise<ProxyUpstreamTotals[]> {
    return this.index.upstreamTotals();
  }

  async repositories(request: ProxyRepositoryListRequest = {}): Promise<BrowsePage<CachedRepository>> {
    const sort = request.sort ?? 'name';
    const order = request.order ?? defaultOrder(sort);
    const q = request.q ?? '';
    const limit = pageSize(request.n, this.maxPage);
    const listing = { sort, order, q };
    const start = request.cursor === undefined ? undefined : decodeCursor(request.cursor, listing, 2);
    const after: ProxyRepositoryKey | undefined = start && { value: start.value, upstream: start.names[0] as string, repository: start.names[1] as string };
    const valueOf = VALUE[sort];
    const visible = request.visible;
    const page = await keysetPage(
      async (from, rows) => (await this.index.listProxyRepositories({ q, sort, order, limit: rows, ...(from ? { after: from } : {}) })).map(named),
      (r) => ({ value: valueOf(r), upstream: r.upstream, repository: r.repository }),
      after,
      limit,
      visible && ((r: CachedRepository) => visible(r.name)),
    );
    const last = page.items[page.items.length - 1];
    return { items: page.items, ...(page.more && last ? { next: encodeCursor(listing, { value: valueOf(last), names: [last.upstream, last.repository] }) } : {}) };
  }
}

export type { ProxyUpstreamTotals } from '../storage/proxy-browse-index.js';

function named(row: ProxyRepositorySummary): CachedRepository {
  return { ...row, name: `${PROXY_PREFIX}${row.upstream}/${row.repository}` as RepoName };
}
