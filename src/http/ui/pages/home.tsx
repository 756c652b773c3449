/**
 * The home page: the local repositories, from the registry's catalog in name order, 100 to a
 * page. A stopgap: the browse listing (sort, search, namespaces, the proxy cache apart)
 * replaces this file.
 */
import type { Page } from '../../../registry/listing-service.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export const HOME_PAGE_SIZE = 100;

export function HomePage(props: { paths: UiPaths; page: Page; first: boolean }) {
  const { paths, page } = props;
  return (
    <Layout title="Repositories" paths={paths} section="repositories">
      <h1>Repositories</h1>
      {page.items.length === 0 ? (
        <p class="empty">{props.first ? 'No repositories yet: push an image to see it here.' : 'No more repositories.'}</p>
      ) : (
        <table class="repositories">
          <thead>
            <tr>
              <th>Name</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((name) => (
              <tr key={name}>
                <td>
                  <a href={paths.repository(name)}>{name}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="pager">
        {!props.first && <a href={paths.home()}>First page</a>} {page.next !== undefined && <a rel="next" href={paths.home(page.next)}>Next page</a>}
      </p>
    </Layout>
  );
}
