/**
 * Mirror mode: ordinary names (`library/nginx`) that the local registry does not have are
 * served through the proxy, the way Docker's `registry-mirrors` and containerd's hosts.toml
 * mirrors ask for them. containerd adds `?ns=<registry host>`, which picks the upstream (after
 * aliases), so one Keel can mirror several registries; otherwise `[mirror] upstream` is used.
 */
import type { Config } from '../config/schema.js';
import type { RepoName } from '../primitives/types.js';
import type { ProxyName } from './proxy-name.js';
import type { Sources } from './sources.js';

export class Mirror {
  constructor(
    private readonly config: Config['mirror'],
    private readonly sources: Sources,
  ) {}

  /** The proxied name to try for a local miss, or undefined when mirroring does not apply. */
  proxiedName(name: RepoName, ns: string | undefined): ProxyName | undefined {
    const fromNs = ns !== undefined && this.config.ns && this.sources.tryResolve(ns) ? ns : undefined;
    const upstream = fromNs ?? (this.config.upstream || undefined);
    return upstream === undefined ? undefined : { full: name, upstream, repo: name };
  }
}
