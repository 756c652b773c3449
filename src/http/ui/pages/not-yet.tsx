/** The proxy cache and status pages, which the navigation already names but which are not built yet. */
import { Layout, type Section } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export function NotYetPage(props: { paths: UiPaths; section: Exclude<Section, undefined>; title: string }) {
  return (
    <Layout title={props.title} paths={props.paths} section={props.section}>
      <h1>{props.title}</h1>
      <p class="empty">This page is not built yet.</p>
    </Layout>
  );
}
