/**
 * Which upstream a `proxy/<name>/...` name means. A name is either configured under
 * `[proxy.upstreams."<name>"]` (any URL, credentials, headers) or listed in `proxy.allow`
 * (reached as https://<name> with defaults). Anything else is refused: Keel is not an open
 * proxy to arbitrary hosts.
 */
import type { Config, UpstreamConfig } from '../config/schema.js';
import { RegistryError } from '../primitives/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface Upstream {
  /** The name as it stands in `proxy/<name>/...`. */
  name: string;
  /** Scheme, host and optional port, without a trailing slash. */
  baseUrl: string;
  credentials: Credentials | undefined;
  /** Whether the upstream may resolve to loopback, private or link-local addresses. */
  allowPrivate: boolean;
  headers: Record<string, string>;
  tagTtlMs: number;
  timeoutMs: number;
  /** Hosts besides the upstream's own that may receive its credentials (a token realm elsewhere). */
  authHosts: string[];
}

/** Docker Hub's token service lives on another host than its registry. */
const DEFAULT_AUTH_HOSTS: Record<string, string[]> = { 'registry-1.docker.io': ['auth.docker.io'] };

export class Upstreams {
  private readonly byName = new Map<string, Upstream>();

  constructor(private readonly config: Config['proxy']) {
    for (const [name, u] of Object.entries(config.upstreams)) this.byName.set(name, this.build(name, u));
  }

  /** An upstream from its settings; an allowed host without settings gets the defaults. */
  private build(name: string, u: Partial<UpstreamConfig> = {}): Upstream {
    return {
      name,
      baseUrl: (u.url ?? `https://${name}`).replace(/\/+$/, ''),
      credentials: u.username && u.password ? { username: u.username, password: u.password } : undefined,
      allowPrivate: u.allow_private ?? false,
      headers: u.headers ?? {},
      tagTtlMs: u.tag_ttl ?? this.config.tag_ttl,
      timeoutMs: u.timeout ?? this.config.timeout,
      authHosts: [...(u.auth_hosts ?? []), ...(u.url ? [] : (DEFAULT_AUTH_HOSTS[name] ?? []))],
    };
  }

  /** The upstream for `name`, or DENIED naming the settings that would allow it. */
  resolve(name: string): Upstream {
    const configured = this.byName.get(name);
    if (configured) return configured;
    if (this.config.allow.includes(name)) {
      const upstream = this.build(name);
      this.byName.set(name, upstream);
      return upstream;
    }
    throw new RegistryError(
      'DENIED',
      `upstream "${name}" is not allowed: add it to proxy.allow or configure it under [proxy.upstreams."${name}"]`,
      { upstream: name },
    );
  }
}
