/** Splits `proxy/<upstream>/<repository>` into the upstream name and the upstream's repository. */
import { RegistryError } from '../primitives/errors.js';
import type { RepoName } from '../primitives/types.js';

export const PROXY_PREFIX = 'proxy/';

export interface ProxyName {
  /** The whole local name, `proxy/<upstream>/<repository>`. */
  full: RepoName;
  upstream: string;
  /** The repository on the upstream. */
  repo: string;
}

export function isProxyName(name: string): boolean {
  return name.startsWith(PROXY_PREFIX);
}

export function parseProxyName(name: RepoName): ProxyName {
  const rest = name.slice(PROXY_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) {
    throw new RegistryError('NAME_INVALID', 'a proxied name is proxy/<upstream>/<repository>, e.g. proxy/registry-1.docker.io/library/ubuntu', { name });
  }
  return { full: name, upstream: rest.slice(0, slash), repo: rest.slice(slash + 1) };
}
