/**
 * A repository's tags, from the registry's tags list in name order, 100 to a page. A stopgap
 * like the home page: the browse listing (sorted by date, with digests and sizes) replaces
 * this file.
 */
import type { Page } from '../../../registry/listing-service.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export const TAGS_PAGE_SIZE = 100;

export function RepositoryPage(props: { paths: UiPaths; name: string; page: Page; first: boolean }) {
  const { paths, name, page } = props;
  return (
    <Layout title={name} paths={paths} section="repositories">
      <p class="crumbs">
        <a href={paths.home()}>Repositories</a> /
      </p>
      <h1>{name}</h1>
      {page.items.length === 0 ? (
        <p class="empty">{props.first ? 'No tags: the repository holds only untagged manifests.' : 'No more tags.'}</p>
      ) : (
        <table class="tags">
          <thead>
            <tr>
              <th>Tag</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((tag) => (
              <tr key={tag}>
                <td>
                  <a href={paths.tag(name, tag)}>{tag}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="pager">
        {!props.first && <a href={paths.repository(name)}>First page</a>} {page.next !== undefined && <a rel="next" href={paths.repository(name, page.next)}>Next page</a>}
      </p>
    </Layout>
  );
}
