/** The HTML answer to a UI request that failed: not found, refused, or Keel's own failure. */
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export function ProblemPage(props: { paths: UiPaths; status: number; title: string; message: string }) {
  const { paths } = props;
  return (
    <Layout title={props.title} paths={paths} section={undefined}>
      <div class="error-page" data-status={String(props.status)}>
        <h1>{props.title}</h1>
        <p>{props.message}</p>
        <p>
          <a href={paths.home()}>Back to the repositories</a>
        </p>
      </div>
    </Layout>
  );
}
