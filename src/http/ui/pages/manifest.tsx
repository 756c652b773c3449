/**
 * A tag or a manifest by digest: what it is, how to pull it, and what it holds. An index lists
 * its platforms, each linking to that image's own page; an image its layers, the fields of
 * its config and its history; both list the manifests that refer to them (signatures, SBOMs).
 *
 * Every string on this page comes from the pusher (names, tags, labels, annotations, history
 * lines): it is only ever interpolated as text or an attribute value, which Preact escapes.
 *
 * The environment is shown folded away: images often carry credentials in ENV, and a page
 * open on a shared screen should not show them by default. It is not hidden from anyone who
 * may open this page: whoever may pull the image can read its config anyway.
 */
import { useContext } from 'preact/hooks';
import { ViewerContext } from '../viewer.js';
import type { ManifestDetails, ImageConfigView, DescriptorView } from '../../../registry/image-details.js';
import type { ReferrerDescriptor } from '../../../registry/referrers-service.js';
import { formatBytes, formatCreated } from '../format.js';
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';
import { PullCommands, type PullTarget } from './pull-commands.js';

export interface ManifestPageProps {
  paths: UiPaths;
  details: ManifestDetails;
  /** How the page was reached: by tag, or by digest. */
  reference: { tag: string } | { digest: string };
  pull: PullTarget;
}

function Size(props: { bytes: number }) {
  return <span title={`${props.bytes} bytes`}>{formatBytes(props.bytes)}</span>;
}

function Digest(props: { value: string; href?: string }) {
  return props.href ? (
    <a class="digest mono" href={props.href}>
      {props.value}
    </a>
  ) : (
    <span class="digest mono">{props.value}</span>
  );
}

function StringTable(props: { entries: Record<string, string>; label: string; empty: string }) {
  const entries = Object.entries(props.entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return <p class="empty">{props.empty}</p>;
  return (
    <table class={props.label}>
      <thead>
        <tr>
          <th>Key</th>
          <th>Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <td class="mono">{key}</td>
            <td class="mono">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Layers(props: { layers: DescriptorView[]; total: number }) {
  if (props.layers.length === 0) return <p class="empty">No layers.</p>;
  return (
    <table class="layers">
      <thead>
        <tr>
          <th>#</th>
          <th>Digest</th>
          <th>Media type</th>
          <th class="num">Size</th>
        </tr>
      </thead>
      <tbody>
        {props.layers.map((layer, i) => (
          <tr key={`${i}`}>
            <td>{i + 1}</td>
            <td>
              <Digest value={layer.digest} />
            </td>
            <td class="mono">{layer.mediaType}</td>
            <td class="num">
              <Size bytes={layer.size} />
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th colSpan={3}>Total ({props.layers.length} layers)</th>
          <td class="num total">
            <Size bytes={props.total} />
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

function command(parts: string[] | undefined): string | undefined {
  return parts === undefined ? undefined : JSON.stringify(parts);
}

function ConfigFacts(props: { config: ImageConfigView }) {
  const c = props.config;
  const rows: [string, string | undefined][] = [
    ['Created', c.created === undefined ? undefined : formatCreated(c.created)],
    ['Platform', c.platform],
    ['Author', c.author],
    ['User', c.user],
    ['Working directory', c.workingDir],
    ['Entrypoint', command(c.entrypoint)],
    ['Command', command(c.cmd)],
    ['Exposed ports', c.exposedPorts.length > 0 ? c.exposedPorts.join(', ') : undefined],
  ];
  return (
    <dl class="facts config">
      {rows
        .filter((r): r is [string, string] => r[1] !== undefined)
        .map(([label, value]) => [
          <dt key={`${label}-t`}>{label}</dt>,
          <dd key={`${label}-d`} class={label === 'Entrypoint' || label === 'Command' ? 'mono' : undefined} data-field={label}>
            {value}
          </dd>,
        ])}
    </dl>
  );
}

function Environment(props: { env: string[] }) {
  if (props.env.length === 0) return <p class="empty">No environment variables.</p>;
  return (
    <details class="env">
      <summary>{`${props.env.length} variable${props.env.length === 1 ? '' : 's'} (may hold credentials: shown on request)`}</summary>
      <pre>{props.env.join('\n')}</pre>
    </details>
  );
}

function History(props: { config: ImageConfigView }) {
  if (props.config.history.length === 0) return <p class="empty">No history recorded.</p>;
  return (
    <table class="history">
      <thead>
        <tr>
          <th>Created</th>
          <th>Created by</th>
        </tr>
      </thead>
      <tbody>
        {props.config.history.map((h, i) => (
          <tr key={`${i}`} class={h.emptyLayer ? 'muted' : undefined}>
            <td class="nowrap">{h.created === undefined ? '' : formatCreated(h.created)}</td>
            <td>
              <pre>{h.createdBy ?? ''}</pre>
              {h.comment !== undefined && <span class="muted">{h.comment}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Referrers(props: { paths: UiPaths; name: string; referrers: ReferrerDescriptor[] }) {
  if (props.referrers.length === 0) return <p class="empty">Nothing refers to this manifest (no signatures, SBOMs or other attached artifacts).</p>;
  return (
    <table class="referrers">
      <thead>
        <tr>
          <th>Artifact type</th>
          <th>Digest</th>
          <th class="num">Size</th>
        </tr>
      </thead>
      <tbody>
        {props.referrers.map((r) => (
          <tr key={r.digest}>
            <td class="mono">{r.artifactType ?? r.mediaType}</td>
            <td>
              <Digest value={r.digest} href={props.paths.manifest(props.name, r.digest)} />
            </td>
            <td class="num">
              <Size bytes={r.size} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A link to the delete confirmation, for viewers the access rules let delete here. */
function DeleteAction(props: { paths: UiPaths; name: string; reference: ManifestPageProps['reference']; digest: string }) {
  const viewer = useContext(ViewerContext);
  if (!viewer.mayDelete(props.name)) return null;
  const { paths, name, reference } = props;
  return (
    <p class="actions">
      {'tag' in reference && (
        <a class="danger" href={paths.deleteTag(name, reference.tag)}>
          Delete tag
        </a>
      )}{' '}
      <a class="danger" href={paths.deleteManifest(name, props.digest)}>
        Delete manifest
      </a>
    </p>
  );
}

function kindName(details: ManifestDetails): string {
  if (details.kind === 'index') return 'Multi-platform index';
  if (details.kind === 'image') return details.artifactType ? 'Artifact' : 'Image';
  return 'Manifest';
}

export function ManifestPage(props: ManifestPageProps) {
  const { paths, details, reference } = props;
  const name = details.repository;
  const title = 'tag' in reference ? `${name}:${reference.tag}` : `${name}@${reference.digest}`;
  return (
    <Layout title={title} paths={paths} section="repositories">
      <p class="crumbs">
        <a href={paths.home()}>Repositories</a> / <a href={paths.repository(name)}>{name}</a> /
      </p>
      <h1>
        {'tag' in reference ? (
          <>
            {name}
            <span class="muted">:</span>
            <span class="tag-name">{reference.tag}</span>
          </>
        ) : (
          <>
            {name}
            <span class="muted">@</span>
            <span class="digest">{reference.digest}</span>
          </>
        )}{' '}
        <span class="badge kind">{kindName(details)}</span>
      </h1>
      <PullCommands target={props.pull} name={name} reference={reference} />
      <DeleteAction paths={paths} name={name} reference={reference} digest={details.digest} />
      <h2>Manifest</h2>
      <dl class="facts manifest">
        <dt>Media type</dt>
        <dd class="mono media-type">{details.mediaType}</dd>
        <dt>Digest</dt>
        <dd>
          <Digest value={details.digest} href={'tag' in reference ? paths.manifest(name, details.digest) : undefined} />
        </dd>
        <dt>Size</dt>
        <dd>
          <Size bytes={details.size} />
        </dd>
        {details.artifactType !== undefined && [<dt key="at">Artifact type</dt>, <dd key="atv" class="mono">{details.artifactType}</dd>]}
        {details.subject !== undefined && [
          <dt key="s">Refers to</dt>,
          <dd key="sv">
            <Digest value={details.subject} href={paths.manifest(name, details.subject)} />
          </dd>,
        ]}
      </dl>
      {details.kind === 'index' && (
        <>
          <h2>Platforms</h2>
          {details.manifests.length === 0 ? (
            <p class="empty">The index names no manifests.</p>
          ) : (
            <table class="platforms">
              <thead>
                <tr>
                  <th>Platform</th>
                  <th>Digest</th>
                  <th>Media type</th>
                  <th class="num">Size</th>
                </tr>
              </thead>
              <tbody>
                {details.manifests.map((m) => (
                  <tr key={m.digest}>
                    <td>
                      <a class="platform" href={paths.manifest(name, m.digest)}>
                        {m.platform ?? m.annotations['vnd.docker.reference.type'] ?? 'unknown platform'}
                      </a>
                    </td>
                    <td>
                      <Digest value={m.digest} />
                    </td>
                    <td class="mono">{m.mediaType}</td>
                    <td class="num">
                      <Size bytes={m.size} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      {details.kind === 'image' && (
        <>
          {details.imageConfig ? (
            <>
              <h2>Configuration</h2>
              <ConfigFacts config={details.imageConfig} />
              <h2>Labels</h2>
              <StringTable entries={details.imageConfig.labels} label="labels" empty="No labels." />
              <h2>Environment</h2>
              <Environment env={details.imageConfig.env} />
            </>
          ) : (
            details.configProblem !== undefined && (
              <>
                <h2>Configuration</h2>
                <p class="empty">{`Not shown: ${details.configProblem}.`}</p>
              </>
            )
          )}
          <h2>Layers</h2>
          <Layers layers={details.layers} total={details.layersSize} />
          {details.imageConfig && (
            <>
              <h2>History</h2>
              <History config={details.imageConfig} />
            </>
          )}
        </>
      )}
      <h2>Annotations</h2>
      <StringTable entries={details.annotations} label="annotations" empty="No annotations." />
      <h2>Referrers</h2>
      <Referrers paths={paths} name={name} referrers={details.referrers} />
    </Layout>
  );
}
