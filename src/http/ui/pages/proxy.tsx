/**
 * The proxy page: each upstream and group (upstream-status.ts) with its URL, tag TTL, aliases,
 * this process's cache hits and misses, and each member's health: backed off (until when),
 * its last failure and its last success. Never credentials: only whether Keel signs in.
 */
import type { ProxyUpstreamTotals } from '../../../proxy/proxy-browse.js';
import type { UpstreamReport } from '../../../proxy/upstream-status.js';
import { formatBytes, formatTime } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';


function hitRate(hits: number, misses: number): string {
  const all = hits + misses;
  return all === 0 ? '–' : `${Math.round((hits / all) * 100)}%`;
}

function Upstream(props: { report: UpstreamReport; cached: ProxyUpstreamTotals | undefined }) {
  const { report, cached } = props;
  const c = report.counts;
  return (
    <section class="upstream" id={`upstream-${report.name}`}>
      <h2>
        {report.name} <span class="badge">{report.kind}</span> {!report.configured && <span class="badge">allowed</span>}
      </h2>
      <dl class="facts">
        <dt>Pull as</dt>
        <dd class="mono">proxy/{report.name}/&lt;repository&gt;:&lt;tag&gt;</dd>
        {report.aliases.length > 0 && (
          <>
            <dt>Also as</dt>
            <dd>{report.aliases.join(', ')}</dd>
          </>
        )}
        <dt>Cached</dt>
        <dd class="cached">
          {cached === undefined ? 'nothing yet' : `${cached.manifests} manifests in ${cached.repositories} repositories, ${cached.blobs} blobs, ${formatBytes(cached.bytes)}`}
        </dd>
        <dt>Tag TTL</dt>
        <dd>{Math.round(report.tagTtlMs / 1000)} s</dd>
        <dt>Hits / misses</dt>
        <dd>
          manifests {c.manifestHits} / {c.manifestMisses} ({hitRate(c.manifestHits, c.manifestMisses)}), blobs {c.blobHits} / {c.blobMisses} ({hitRate(c.blobHits, c.blobMisses)}) since this server
          started
        </dd>
      </dl>
      <table class="members">
        <thead>
          <tr>
            <th>{report.kind === 'group' ? 'Member' : 'Upstream'}</th>
            <th>URL</th>
            <th>State</th>
            <th>Last failure</th>
            <th>Last success</th>
          </tr>
        </thead>
        <tbody>
          {report.members.map((m) => (
            <tr key={m.name}>
              <td>
                {m.name} {m.signsIn && <span class="badge">signs in</span>}
              </td>
              <td class="mono">{m.url}</td>
              <td class="state">{m.backedOffUntil !== undefined ? `backed off until ${formatTime(m.backedOffUntil, true)}` : 'ok'}</td>
              <td>{m.lastFailure === undefined ? 'none' : `${formatTime(m.lastFailure.at, true)}: ${m.lastFailure.message}`}</td>
              <td>{formatTime(m.lastSuccessAt, true)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function ProxyPage(props: { paths: UiPaths; upstreams: readonly UpstreamReport[]; cached: readonly ProxyUpstreamTotals[] }) {
  const cached = new Map(props.cached.map((c) => [c.upstream, c]));
  const configured = props.upstreams.filter((u) => u.configured);
  const allowed = props.upstreams.filter((u) => !u.configured);
  return (
    <Layout title="Proxy cache" paths={props.paths} section="proxy">
      <h1>Proxy cache</h1>
      <p class="muted">What each upstream and group looks like from this server: health and cache hits are this process's, since it started.</p>
      {configured.length === 0 && <p class="empty">No upstream or group is configured; the allowed public registries below are reached with the defaults.</p>}
      {configured.map((u) => (
        <Upstream key={u.name} report={u} cached={cached.get(u.name)} />
      ))}
      {allowed.length > 0 && (
        <>
          <h2>Allowed public registries</h2>
          {allowed.map((u) => (
            <Upstream key={u.name} report={u} cached={cached.get(u.name)} />
          ))}
        </>
      )}
    </Layout>
  );
}
