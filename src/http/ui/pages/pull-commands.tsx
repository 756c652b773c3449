/**
 * The pull commands for an image, one per client, each with a copy button (static/copy-js.ts).
 * The host is the one the browser used (the request's Host), so the command works from where
 * the user stands; `[ui] path_prefix` is not part of an image reference (clients always speak
 * to /v2/ at the host's root). Over plain HTTP, ctr and podman need to be told (docker needs
 * the host in the daemon's insecure-registries instead).
 */
export interface PullTarget {
  host: string;
  plainHttp: boolean;
}

export function pullCommands(target: PullTarget, name: string, reference: { tag: string } | { digest: string }): { tool: string; command: string }[] {
  const image = `${target.host}/${name}${'tag' in reference ? `:${reference.tag}` : `@${reference.digest}`}`;
  return [
    { tool: 'docker', command: `docker pull ${image}` },
    { tool: 'podman', command: `podman pull ${target.plainHttp ? '--tls-verify=false ' : ''}${image}` },
    { tool: 'ctr', command: `ctr image pull ${target.plainHttp ? '--plain-http ' : ''}${image}` },
  ];
}

export function PullCommands(props: { target: PullTarget; name: string; reference: { tag: string } | { digest: string } }) {
  return (
    <section class="pull-commands" aria-label="Pull commands">
      {pullCommands(props.target, props.name, props.reference).map(({ tool, command }) => (
        <div class="pull" key={tool}>
          <span class="tool">{tool}</span>
          <code id={`pull-${tool}`}>{command}</code>
          <button type="button" class="copy" data-copy-target={`pull-${tool}`} aria-label={`Copy the ${tool} command`}>
            Copy
          </button>
        </div>
      ))}
    </section>
  );
}
