import { describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config/load.js';

describe('deployment examples', () => {
  test('the example configurations parse', () => {
    const container = loadConfig({ file: 'deploy/examples/container.toml', env: {} });
    expect(container.registry_storage).toBe('/var/lib/keel/registry');
    const production = loadConfig({ file: 'deploy/examples/production.toml', env: { DOCKER_HUB_USERNAME: 'u', DOCKER_HUB_PASSWORD: 'p' } });
    expect(production.tls.cert).toBe('/etc/keel/tls/fullchain.pem');
    expect(production.proxy.upstreams['registry-1.docker.io']).toMatchObject({ username: 'u', password: 'p' });
    expect(production.metrics.listen).toEqual({ host: '127.0.0.1', port: 9100 });
  });
});
