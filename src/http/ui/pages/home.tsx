/**
 * The home page: the repositories, local and proxy cache apart (tabs), from the index's
 * figures (registry/browse-service.ts, proxy/proxy-browse.ts): searched by a part of the name,
 * sorted by name, last push, last pull or size, 100 to a page with a cursor. Each name shows
 * its namespace (what comes before its first `/`) as a link that searches for it, so a team's
 * repositories are one click away.
 */
import type { CachedRepository } from '../../../proxy/proxy-browse.js';
import type { BrowsePage, RepositorySummary } from '../../../registry/browse-service.js';
import { formatBytes, formatTime } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export type HomeStore = 'local' | 'proxy';
export type HomeSort = 'name' | 'pushed' | 'pulled' | 'size';

export interface HomeQuery {
  store: HomeStore;
  q: string;
  sort: HomeSort;
  order: 'asc' | 'desc';
  cursor?: string;
}

export type HomeListing = { store: 'local'; page: BrowsePage<RepositorySummary> } | { store: 'proxy'; page: BrowsePage<CachedRepository> };

const SORT_LABELS: Record<HomeSort, string> = { name: 'Name', pushed: 'Last push', pulled: 'Last pull', size: 'Size' };

/** The sorts each store offers (the proxy cache records reads, not pushes). */
export const STORE_SORTS: Record<HomeStore, readonly HomeSort[]> = { local: ['name', 'pushed', 'pulled', 'size'], proxy: ['name', 'pulled', 'size'] };


/** "team/app" → ["team", "app"]; a name without a namespace → [undefined, name]. */
function split(name: string): [string | undefined, string] {
  const slash = name.indexOf('/');
  return slash < 0 ? [undefined, name] : [name.slice(0, slash), name.slice(slash + 1)];
}

function Name(props: { paths: UiPaths; query: HomeQuery; name: string; href: string | undefined }) {
  const { paths, query } = props;
  const shown = query.store === 'proxy' ? props.name.slice('proxy/'.length) : props.name;
  const [namespace, rest] = split(shown);
  return (
    <>
      {namespace !== undefined && (
        <>
          <a class="namespace" href={paths.homeQuery({ ...query, q: `${namespace}/`, cursor: undefined })} title={`Only ${namespace}/`}>
            {namespace}
          </a>
          <span class="muted">/</span>
        </>
      )}
      {props.href === undefined ? <span>{rest}</span> : <a href={props.href}>{rest}</a>}
    </>
  );
}

function SortLink(props: { paths: UiPaths; query: HomeQuery; sort: HomeSort }) {
  const { paths, query, sort } = props;
  const current = query.sort === sort;
  // Clicking the current sort flips its order; another sort starts at its natural order.
  const order = current ? (query.order === 'asc' ? 'desc' : 'asc') : sort === 'name' ? 'asc' : 'desc';
  return (
    <a class={current ? 'sort current' : 'sort'} href={paths.homeQuery({ ...query, sort, order, cursor: undefined })} aria-sort={current ? (query.order === 'asc' ? 'ascending' : 'descending') : undefined}>
      {SORT_LABELS[sort]}
      {current ? (query.order === 'asc' ? ' ▲' : ' ▼') : ''}
    </a>
  );
}

export function HomePage(props: { paths: UiPaths; query: HomeQuery; listing: HomeListing }) {
  const { paths, query, listing } = props;
  const sorts = STORE_SORTS[query.store];
  const empty = query.q !== '' ? `No repository matches “${query.q}”.` : query.cursor !== undefined ? 'No more repositories.' : query.store === 'local' ? 'No repositories yet: push an image to see it here.' : 'Nothing cached yet: pull through proxy/<upstream>/... to fill the cache.';
  return (
    <Layout title="Repositories" paths={paths} section="repositories">
      <h1>Repositories</h1>
      <nav class="tabs" aria-label="Store">
        {(['local', 'proxy'] as const).map((store) => (
          <a key={store} class={query.store === store ? 'current' : undefined} aria-current={query.store === store ? 'page' : undefined} href={paths.homeQuery({ store, q: query.q, sort: 'name', order: 'asc' })}>
            {store === 'local' ? 'Registry' : 'Proxy cache'}
          </a>
        ))}
      </nav>
      <form class="search" method="get" action={paths.home()} role="search">
        <input type="hidden" name="store" value={query.store} />
        <input type="hidden" name="sort" value={query.sort} />
        <input type="hidden" name="order" value={query.order} />
        <input type="search" name="q" value={query.q} maxLength={256} placeholder="Search repositories" aria-label="Search repositories" />
        <button type="submit">Search</button>
        {query.q !== '' && <a href={paths.homeQuery({ ...query, q: '', cursor: undefined })}>Clear</a>}
      </form>
      {listing.page.items.length === 0 ? (
        <p class="empty">{empty}</p>
      ) : (
        <table class="repositories">
          <thead>
            <tr>
              <th>
                <SortLink paths={paths} query={query} sort="name" />
              </th>
              <th class="num">Tags</th>
              {sorts.includes('pushed') && (
                <th>
                  <SortLink paths={paths} query={query} sort="pushed" />
                </th>
              )}
              <th>
                <SortLink paths={paths} query={query} sort="pulled" />
              </th>
              <th class="num">
                <SortLink paths={paths} query={query} sort="size" />
              </th>
            </tr>
          </thead>
          <tbody>
            {listing.store === 'local'
              ? listing.page.items.map((r) => (
                  <tr key={r.name}>
                    <td class="name">
                      <Name paths={paths} query={query} name={r.name} href={paths.repository(r.name)} />
                    </td>
                    <td class="num">{r.tags}</td>
                    <td>{formatTime(r.pushedAt)}</td>
                    <td>{formatTime(r.pulledAt)}</td>
                    <td class="num">{formatBytes(r.bytes)}</td>
                  </tr>
                ))
              : listing.page.items.map((r) => (
                  <tr key={r.name}>
                    <td class="name">
                      <Name paths={paths} query={query} name={r.name} href={paths.repository(r.name)} />
                    </td>
                    <td class="num">{r.tags}</td>
                    <td>{formatTime(r.lastReadAt)}</td>
                    <td class="num">{formatBytes(r.bytes)}</td>
                  </tr>
                ))}
          </tbody>
        </table>
      )}
      <p class="pager">
        {query.cursor !== undefined && <a href={paths.homeQuery({ ...query, cursor: undefined })}>First page</a>}{' '}
        {listing.page.next !== undefined && (
          <a rel="next" href={paths.homeQuery({ ...query, cursor: listing.page.next })}>
            Next page
          </a>
        )}
      </p>
    </Layout>
  );
}
