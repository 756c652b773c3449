import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../../src/config/load.js';
import { memberRepository, Sources } from '../../src/proxy/sources.js';
import { Upstreams } from '../../src/proxy/upstreams.js';

function sources(toml: string): Sources {
  const config = parseConfig(toml, 'c.toml', '/');
  return new Sources(config.proxy, new Upstreams(config.proxy));
}

describe('Sources', () => {
  test('default aliases: docker.io is Docker Hub, k8s.gcr.io is registry.k8s.io', () => {
    const s = sources('');
    expect(s.resolve('docker.io')).toMatchObject({ name: 'registry-1.docker.io', members: [{ baseUrl: 'https://registry-1.docker.io' }] });
    expect(s.resolve('k8s.gcr.io').name).toBe('registry.k8s.io');
    expect(s.resolve('quay.io').name).toBe('quay.io');
  });

  test('a one-component Docker Hub name gets library/, other registries and longer names do not', () => {
    const hubSource = sources('').resolve('docker.io');
    const quaySource = sources('').resolve('quay.io');
    const hub = hubSource.members[0];
    const quay = quaySource.members[0];
    if (!hub || !quay) throw new Error('no members');
    expect(memberRepository(hubSource, hub, 'ubuntu')).toBe('library/ubuntu');
    expect(memberRepository(hubSource, hub, 'bitnami/redis')).toBe('bitnami/redis');
    expect(memberRepository(quaySource, quay, 'ubuntu')).toBe('ubuntu');
  });

  test('an alias docker.io pointing at a group of Docker Hub mirrors adds library/ on every member; a group under its own name does not', () => {
    const s = sources(`
[proxy.upstreams.mirror1]
url = "https://mirror1.example.com"
[proxy.upstreams.mirror2]
url = "https://mirror2.example.com"
[proxy.groups.hubmirrors]
members = ["mirror1", "mirror2"]
[proxy.aliases]
"docker.io" = "hubmirrors"
`);
    const viaHubName = s.resolve('docker.io');
    expect(viaHubName.members.map((m) => memberRepository(viaHubName, m, 'ubuntu'))).toEqual(['library/ubuntu', 'library/ubuntu']);
    expect(viaHubName.members.map((m) => memberRepository(viaHubName, m, 'bitnami/redis'))).toEqual(['bitnami/redis', 'bitnami/redis']);
    const byOwnName = s.resolve('hubmirrors');
    expect(byOwnName.members.map((m) => memberRepository(byOwnName, m, 'ubuntu'))).toEqual(['ubuntu', 'ubuntu']);
  });

  test('groups keep their member order and key the cache by the group name; aliases may point at groups', () => {
    const s = sources(`
[proxy.upstreams.private]
url = "https://registry.example.com"
[proxy.groups.hub]
members = ["private", "registry-1.docker.io"]
[proxy.aliases]
"docker.io" = "hub"
`);
    const hub = s.resolve('docker.io');
    expect(hub.name).toBe('hub');
    expect(hub.members.map((m) => m.name)).toEqual(['private', 'registry-1.docker.io']);
    expect(s.resolve('hub').name).toBe('hub');
  });

  test('names that are neither allowed, configured, grouped nor aliased are DENIED; tryResolve gives undefined', () => {
    const s = sources('');
    expect(() => s.resolve('evil.example.com')).toThrow(/not allowed/);
    expect(s.tryResolve('evil.example.com')).toBeUndefined();
  });
});

describe('group, alias and mirror configuration errors name the key', () => {
  test('unknown group members, alias targets and mirror upstreams', () => {
    expect(() => parseConfig('[proxy.groups.hub]\nmembers = ["nowhere.example"]\n', 'c.toml', '/')).toThrow(/key "proxy.groups.hub.members.0": "nowhere.example" is neither in proxy.allow/);
    expect(() => parseConfig('[proxy.groups.hub]\nmembers = []\n', 'c.toml', '/')).toThrow(/key "proxy.groups.hub.members"/);
    expect(() => parseConfig('[proxy.aliases]\nshort = "nowhere"\n', 'c.toml', '/')).toThrow(/key "proxy.aliases.short"/);
    expect(() => parseConfig('[mirror]\nupstream = "nowhere"\n', 'c.toml', '/')).toThrow(/key "mirror.upstream"/);
    expect(() => parseConfig('[proxy.upstreams.x]\nurl = "http://a"\n[proxy.groups.x]\nmembers = ["x"]\n', 'c.toml', '/')).toThrow(/both an upstream and a group/);
  });

  test('a single-upstream configuration keeps working with groups added', () => {
    const config = parseConfig('[proxy.upstreams.up]\nurl = "http://127.0.0.1:1"\nallow_private = true\n[proxy.groups.g]\nmembers = ["up", "quay.io"]\n', 'c.toml', '/');
    expect(config.proxy.upstreams.up?.url).toBe('http://127.0.0.1:1');
    expect(config.proxy.groups.g?.members).toEqual(['up', 'quay.io']);
  });
});
