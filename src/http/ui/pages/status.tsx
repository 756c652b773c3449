/** The status page: this server's version and uptime, the bytes each store holds, and the last GC run with what it freed (server-status.ts). */
import type { StatusReport } from '../../../server-status.js';
import { formatBytes } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

/** 93784 → "1d 2h 3m"; under a minute, in seconds. */
export function formatUptime(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return [d > 0 ? `${d}d` : '', h > 0 || d > 0 ? `${h}h` : '', `${m}m`].filter((x) => x !== '').join(' ');
}

export function StatusPage(props: { paths: UiPaths; report: StatusReport }) {
  const { report } = props;
  const gc = report.lastGc;
  return (
    <Layout title="Status" paths={props.paths} section="status">
      <h1>Status</h1>
      <dl class="facts">
        <dt>Version</dt>
        <dd>
          Keel {report.version} on Node {report.node}
        </dd>
        <dt>Replica</dt>
        <dd>{report.replica}</dd>
        <dt>Up since</dt>
        <dd>
          {report.startedAt.slice(0, 19).replace('T', ' ')} UTC ({formatUptime(report.uptimeSeconds)})
        </dd>
        <dt>Index</dt>
        <dd class="mono">{report.database}</dd>
      </dl>
      <h2>Storage</h2>
      <table class="stores">
        <thead>
          <tr>
            <th>Store</th>
            <th>Location</th>
            <th class="num">Used</th>
          </tr>
        </thead>
        <tbody>
          {(['registry', 'proxy'] as const).map((store) => (
            <tr key={store}>
              <td>{store === 'registry' ? 'Registry (your images)' : 'Proxy cache'}</td>
              <td class="mono">{report.stores[store].location}</td>
              <td class="num">{formatBytes(report.stores[store].bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Garbage collection</h2>
      {gc === undefined ? (
        <p class="empty">No GC run has completed yet (scripts/gc, usually from cron).</p>
      ) : (
        <>
          <p>
            Last run finished {gc.finishedAt.slice(0, 19).replace('T', ' ')} UTC, in {gc.durationSeconds} s.
          </p>
          <table class="gc">
            <thead>
              <tr>
                <th>Store</th>
                <th class="num">Blobs</th>
                <th class="num">Manifests</th>
                <th class="num">Tags</th>
                <th class="num">Freed</th>
              </tr>
            </thead>
            <tbody>
              {gc.stores.map((s) => (
                <tr key={s.store}>
                  <td>{s.store}</td>
                  <td class="num">{s.blobs}</td>
                  <td class="num">{s.manifests}</td>
                  <td class="num">{s.tags}</td>
                  <td class="num">{formatBytes(s.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Layout>
  );
}
