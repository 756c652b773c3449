/**
 * A proxy cache repository (`proxy/<upstream>/<repository>`): the tags the cache holds, each
 * with the manifest it points at and when the upstream last confirmed it, newest first. Only
 * the cache is read: the upstream may have more tags, and other digests.
 */
import { formatBytes, formatTime } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export interface CachedTagRow {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  checkedAt: number;
}


export function CachedRepositoryPage(props: { paths: UiPaths; name: string; tags: readonly CachedTagRow[] }) {
  const { paths, name } = props;
  const tags = [...props.tags].sort((a, b) => b.checkedAt - a.checkedAt || (a.tag < b.tag ? -1 : 1));
  return (
    <Layout title={name} paths={paths} section="repositories">
      <p class="crumbs">
        <a href={paths.homeQuery({ store: 'proxy', q: '', sort: 'name', order: 'asc' })}>Proxy cache</a> /
      </p>
      <h1>{name}</h1>
      <p class="muted summary">The tags this cache holds; the upstream may have more. Pull through Keel to cache others.</p>
      <table class="tags">
        <thead>
          <tr>
            <th>Tag</th>
            <th>Digest</th>
            <th>Confirmed by the upstream</th>
            <th class="num">Manifest</th>
          </tr>
        </thead>
        <tbody>
          {tags.map((t) => (
            <tr key={t.tag}>
              <td>
                <a href={paths.tag(name, t.tag)}>{t.tag}</a>
              </td>
              <td class="digest mono">
                <a href={paths.manifest(name, t.digest)} title={t.digest}>
                  {t.digest.slice(0, 19)}
                </a>
              </td>
              <td>{formatTime(t.checkedAt)}</td>
              <td class="num">{formatBytes(t.size)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}
