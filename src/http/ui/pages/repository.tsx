/**
 * A repository's tags from the index's figures (registry/browse-service.ts): newest push first
 * by default, or by name; each with its digest, media type, when it was pushed and the size of
 * its image; 100 to a page with a cursor. Above them, the repository's own figures.
 */
import type { BrowsePage, RepositorySummary, TagSummary } from '../../../registry/browse-service.js';
import { formatBytes, formatTime } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export interface TagsQuery {
  sort: 'date' | 'name';
  cursor?: string;
}


const KINDS: Record<string, string> = {
  'application/vnd.oci.image.index.v1+json': 'index',
  'application/vnd.docker.distribution.manifest.list.v2+json': 'index',
  'application/vnd.oci.image.manifest.v1+json': 'image',
  'application/vnd.docker.distribution.manifest.v2+json': 'image',
};

export function RepositoryPage(props: { paths: UiPaths; summary: RepositorySummary; query: TagsQuery; page: BrowsePage<TagSummary> }) {
  const { paths, summary, query, page } = props;
  const name = summary.name;
  return (
    <Layout title={name} paths={paths} section="repositories">
      <p class="crumbs">
        <a href={paths.home()}>Repositories</a> /
      </p>
      <h1>{name}</h1>
      <p class="muted summary">
        {summary.tags} tags, {summary.manifests} manifests, {formatBytes(summary.bytes)}; last push {formatTime(summary.pushedAt)}, last pull {formatTime(summary.pulledAt)}
      </p>
      <p class="sorts">
        Sort by{' '}
        <a class={query.sort === 'date' ? 'sort current' : 'sort'} href={paths.repository(name)}>
          newest
        </a>{' '}
        <a class={query.sort === 'name' ? 'sort current' : 'sort'} href={paths.repositoryQuery(name, { sort: 'name' })}>
          name
        </a>
      </p>
      {page.items.length === 0 ? (
        <p class="empty">{query.cursor === undefined ? 'No tags: the repository holds only untagged manifests.' : 'No more tags.'}</p>
      ) : (
        <table class="tags">
          <thead>
            <tr>
              <th>Tag</th>
              <th>Digest</th>
              <th>Kind</th>
              <th>Pushed</th>
              <th class="num">Size</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((t) => (
              <tr key={t.tag}>
                <td>
                  <a href={paths.tag(name, t.tag)}>{t.tag}</a>
                </td>
                <td class="digest mono">
                  <a href={paths.manifest(name, t.digest)} title={t.digest}>
                    {t.digest.slice(0, 19)}
                  </a>
                </td>
                <td>{KINDS[t.mediaType] ?? t.mediaType}</td>
                <td>{formatTime(t.pushedAt)}</td>
                <td class="num">{formatBytes(t.imageBytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="pager">
        {query.cursor !== undefined && <a href={paths.repositoryQuery(name, { sort: query.sort })}>First page</a>}{' '}
        {page.next !== undefined && (
          <a rel="next" href={paths.repositoryQuery(name, { sort: query.sort, cursor: page.next })}>
            Next page
          </a>
        )}
      </p>
    </Layout>
  );
}
