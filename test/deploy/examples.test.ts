import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { AccessPolicy } from '../../src/auth/access-policy.js';
import { anonymousMirrorPullWarning } from '../../src/auth/mirror-pull-check.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

const HUB_ENV = { DOCKER_HUB_USERNAME: 'u', DOCKER_HUB_PASSWORD: 'p' };

/** What anonymous may pull under `config`'s rules: mirrored names yes, local ones no. */
function anonymousPulls(config: Config, names: string[]): Record<string, boolean> {
  const policy = new AccessPolicy(config.auth);
  return Object.fromEntries(names.map((n) => [n, policy.allowed(undefined, n).has('pull')]));
}

/** container.toml with its commented settings (`# key = ...`, `# [table]`) turned on. */
async function containerUncommented(): Promise<Config> {
  const text = readFileSync('deploy/examples/container.toml', 'utf8').replace(/^# ?((\[|[a-z_]+ = ).*)$/gm, '$1');
  const dir = await mkdtemp(join(tmpdir(), 'keel-examples-'));
  try {
    await writeFile(join(dir, 'container.toml'), text);
    return loadConfig({ file: join(dir, 'container.toml'), env: {} });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('deployment examples', () => {
  test('the example configurations parse', () => {
    const container = loadConfig({ file: 'deploy/examples/container.toml', env: {} });
    expect(container.registry_storage).toBe('/var/lib/keel/registry');
    const production = loadConfig({ file: 'deploy/examples/production.toml', env: HUB_ENV });
    expect(production.tls.cert).toBe('/etc/keel/tls/fullchain.pem');
    expect(production.proxy.upstreams['registry-1.docker.io']).toMatchObject({ username: 'u', password: 'p' });
    expect(production.metrics.listen).toEqual({ host: '127.0.0.1', port: 9100 });
  });

  test("production.toml: mirror mode with auth on lets anonymous pull what the mirror serves, and no local repository", () => {
    const production = loadConfig({ file: 'deploy/examples/production.toml', env: HUB_ENV });
    expect([production.auth.htpasswd, production.mirror.upstream]).toEqual(['/etc/keel/htpasswd', 'docker.io']);
    expect(anonymousMirrorPullWarning(production.mirror, new AccessPolicy(production.auth))).toBeUndefined();
    expect(anonymousPulls(production, ['proxy/docker.io/library/nginx', 'library/nginx', 'team/app'])).toEqual({
      'proxy/docker.io/library/nginx': true,
      'library/nginx': false,
      'team/app': false,
    });
  });

  test('container.toml: its commented mirror-mode example, turned on, works with auth on', async () => {
    const container = await containerUncommented();
    expect([container.auth.htpasswd, container.mirror.upstream]).toEqual(['/etc/keel/htpasswd', 'docker.io']);
    expect(anonymousMirrorPullWarning(container.mirror, new AccessPolicy(container.auth))).toBeUndefined();
    expect(anonymousPulls(container, ['proxy/docker.io/library/nginx', 'library/nginx', 'team/app'])).toEqual({
      'proxy/docker.io/library/nginx': true,
      'library/nginx': false,
      'team/app': false,
    });
    // Signed-in users keep what they had without rules.
    expect([...new AccessPolicy(container.auth).allowed('alice', 'team/app')].sort()).toEqual(['delete', 'pull', 'push']);
  });
});
