/**
 * What a name under `proxy/<name>/` (or a mirrored pull) fetches from: one upstream, or a
 * group of upstreams tried in order, after aliases (`docker.io` → `registry-1.docker.io`).
 * The source's name keys the cache, so a group's content is cached under the group
 * whichever member supplied it, and an alias shares the cache of what it points at.
 */
import type { Config } from '../config/schema.js';
import { RegistryError } from '../primitives/errors.js';
import type { Upstream, Upstreams } from './upstreams.js';

export interface Source {
  /** The upstream or group name the cache is keyed by. */
  name: string;
  /** Upstreams in the order they are tried (one for a plain upstream). */
  members: Upstream[];
  tagTtlMs: number;
  /**
   * Reached through one of Docker Hub's names (`docker.io`, an alias of it, or Docker Hub
   * itself): one-word repositories mean `library/<name>` on every member, mirrors included.
   */
  dockerHubNamespace: boolean;
}

export class Sources {
  constructor(
    private readonly config: Config['proxy'],
    private readonly upstreams: Upstreams,
  ) {}

  /** The source `name` means (an alias, a group or an upstream); DENIED when it means nothing allowed. */
  resolve(name: string): Source {
    const target = this.config.aliases[name] ?? name;
    const dockerHubNamespace = DOCKER_HUB_HOSTS.has(name) || DOCKER_HUB_HOSTS.has(target);
    const group = this.config.groups[target];
    if (group) {
      const members = group.members.map((m) => this.upstreams.resolve(m));
      return { name: target, members, tagTtlMs: group.tag_ttl ?? Math.min(...members.map((m) => m.tagTtlMs)), dockerHubNamespace };
    }
    const upstream = this.upstreams.resolve(target);
    return { name: upstream.name, members: [upstream], tagTtlMs: upstream.tagTtlMs, dockerHubNamespace };
  }

  /** Like resolve, but undefined instead of DENIED (for containerd's `ns`, which may name anything). */
  tryResolve(name: string): Source | undefined {
    try {
      return this.resolve(name);
    } catch (err) {
      if (err instanceof RegistryError) return undefined;
      throw err;
    }
  }
}

const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io']);

/**
 * Docker Hub keeps official images under `library/`: `ubuntu` there is `library/ubuntu`. That
 * holds on Docker Hub itself and on every member reached through a Docker Hub name (an alias
 * `docker.io` = a group of Docker Hub mirrors), since those mirrors keep Hub's layout.
 */
export function memberRepository(source: Source, member: Upstream, repo: string): string {
  if (repo.includes('/')) return repo;
  return source.dockerHubNamespace || DOCKER_HUB_HOSTS.has(new URL(member.baseUrl).hostname) ? `library/${repo}` : repo;
}
