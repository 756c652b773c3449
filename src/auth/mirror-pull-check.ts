/**
 * A start-up check of mirror mode against the access rules. A Docker daemon's
 * `registry-mirrors` pulls without credentials, and its mirrored reads are authorized
 * against the proxied name they serve, `proxy/<mirror.upstream>/<name>`. When anonymous may
 * not pull that, every such pull is refused, and Docker quietly falls back to the upstream
 * registry itself: worth one warning, with the rule that would fix it.
 */
import type { Config } from '../config/schema.js';
import { PROXY_PREFIX } from '../proxy/proxy-name.js';
import type { AccessPolicy } from './access-policy.js';

/** A name a Docker daemon's mirror pull would be checked against (Docker Hub's official images live under library/). */
const SAMPLE = 'library/x';

export interface MirrorPullWarning {
  fields: { mirror_upstream: string; checked: string; rule: string };
  message: string;
}

/** The warning to log, or undefined when anonymous may pull what mirror mode serves (or it is off). */
export function anonymousMirrorPullWarning(mirror: Config['mirror'], policy: AccessPolicy): MirrorPullWarning | undefined {
  if (mirror.upstream === '') return undefined;
  const checked = `${PROXY_PREFIX}${mirror.upstream}/${SAMPLE}`;
  if (policy.allowed(undefined, checked).has('pull')) return undefined;
  const rule = `[[auth.access]] repository = "${PROXY_PREFIX}${mirror.upstream}/**", users = ["anonymous"], actions = ["pull"]`;
  return {
    fields: { mirror_upstream: mirror.upstream, checked, rule },
    message: `mirror mode is on, but anonymous may not pull ${checked}: Docker daemons' registry-mirrors pulls (made without signing in) will be refused and fall back to the internet; add the rule ${rule} (or "${PROXY_PREFIX}**")`,
  };
}
