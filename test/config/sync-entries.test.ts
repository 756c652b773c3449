// `[[proxy.sync]]` entries: parsed into typed settings with their defaults, and refused with a
// message naming the entry and the key when they cannot work.
import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../../src/config/load.js';

const UPSTREAM = '[proxy.upstreams.up]\nurl = "http://127.0.0.1:1"\nallow_private = true\n';
const parse = (sync: string): ReturnType<typeof parseConfig> => parseConfig(`${UPSTREAM}\n${sync}`, 'c.toml', '/');

describe('[[proxy.sync]]', () => {
  test('none by default', () => {
    expect(parseConfig('', 'c.toml', '/').proxy.sync).toEqual([]);
  });

  test('an entry gets its defaults: every tag, every platform, not pinned', () => {
    const config = parse('[[proxy.sync]]\nupstream = "up"\nrepositories = ["library/alpine"]\ninterval = "6h"\n');
    expect(config.proxy.sync).toEqual([{ upstream: 'up', repositories: ['library/alpine'], tags: '.*', platforms: [], interval: 6 * 3_600_000, pin: false }]);
  });

  test('every key, several entries, a group as the upstream', () => {
    const config = parse(
      '[proxy.groups.hub]\nmembers = ["up"]\n' +
        '[[proxy.sync]]\nupstream = "hub"\nrepositories = ["a", "b/c"]\ntags = "v1\\\\..*"\nnewest = 3\nplatforms = ["linux/amd64", "linux/arm64/v8"]\ninterval = "1m"\npin = true\n' +
        '[[proxy.sync]]\nupstream = "up"\nrepositories = ["d"]\ninterval = "1h30m"\n',
    );
    expect(config.proxy.sync).toEqual([
      { upstream: 'hub', repositories: ['a', 'b/c'], tags: 'v1\\..*', newest: 3, platforms: ['linux/amd64', 'linux/arm64/v8'], interval: 60_000, pin: true },
      { upstream: 'up', repositories: ['d'], tags: '.*', platforms: [], interval: 90 * 60_000, pin: false },
    ]);
  });

  test('a bad regex is refused, naming the entry and its upstream', () => {
    expect(() => parse('[[proxy.sync]]\nupstream = "up"\nrepositories = ["a"]\ninterval = "1h"\n[[proxy.sync]]\nupstream = "up"\nrepositories = ["a"]\ntags = "v(1"\ninterval = "1h"\n')).toThrow(
      /key "proxy\.sync\.1\.tags": \[\[proxy\.sync\]\] entry 2 \(upstream "up"\): tags "v\(1" is not a regular expression/,
    );
  });

  test('a semver range is kept; one that is not a range is refused, naming the entry', () => {
    expect(parse('[[proxy.sync]]\nupstream = "up"\nrepositories = ["a"]\nsemver = ">=1.2 <2"\nnewest = 2\ninterval = "1h"\n').proxy.sync[0]).toMatchObject({ semver: '>=1.2 <2', newest: 2 });
    expect(() => parse('[[proxy.sync]]\nupstream = "up"\nrepositories = ["a"]\nsemver = "one point two"\ninterval = "1h"\n')).toThrow(
      /key "proxy\.sync\.0\.semver": \[\[proxy\.sync\]\] entry 1 \(upstream "up"\): semver "one point two" is not a version range/,
    );
  });

  test('repositories may be globs, beside literal names', () => {
    const config = parse('[[proxy.sync]]\nupstream = "up"\nrepositories = ["library/alpine", "library/*", "team/**", "app-?", "{a,b}/x"]\ninterval = "1h"\n');
    expect(config.proxy.sync[0]?.repositories).toEqual(['library/alpine', 'library/*', 'team/**', 'app-?', '{a,b}/x']);
  });

  test('a glob that is not one, or can never match a repository name, is refused, naming the entry and the key', () => {
    const entry = (repositories: string): string => `[[proxy.sync]]\nupstream = "up"\nrepositories = ${repositories}\ninterval = "1h"\n`;
    expect(() => parse(entry('["library/alpine", "library/[abc"]'))).toThrow(/key "proxy\.sync\.0\.repositories\.1": "library\/\[abc" is not a glob \(Missing closing: "\]"/);
    expect(() => parse(entry('["{a,b/x"]'))).toThrow(/key "proxy\.sync\.0\.repositories\.0": "\{a,b\/x" is not a glob/);
    expect(() => parse(entry('["Library/*"]'))).toThrow(/key "proxy\.sync\.0\.repositories\.0": "Library\/\*" can never match a repository name/);
    expect(() => parse(entry('["!library/*"]'))).toThrow(/key "proxy\.sync\.0\.repositories\.0": "!library\/\*" is a negated glob/);
  });

  test('a glob on a group (or an alias of one) is taken: its members\' catalogs are listed each run', () => {
    const groups = '[proxy.groups.hub]\nmembers = ["up"]\n[proxy.aliases]\n"hub.alias" = "hub"\n';
    expect(parse(`${groups}[[proxy.sync]]\nupstream = "hub.alias"\nrepositories = ["a", "team/*"]\ninterval = "1h"\n`).proxy.sync[0]?.repositories).toEqual(['a', 'team/*']);
  });

  test('an upstream that does not resolve is refused', () => {
    expect(() => parse('[[proxy.sync]]\nupstream = "nowhere"\nrepositories = ["a"]\ninterval = "1h"\n')).toThrow(
      /key "proxy\.sync\.0\.upstream": \[\[proxy\.sync\]\] entry 1 \(upstream "nowhere"\): "nowhere" is not an allowed or configured upstream, group or alias/,
    );
  });

  test('an interval under a minute, a missing interval, no repositories, a bad name, platform or newest, an unknown key', () => {
    const entry = (extra: string): string => `[[proxy.sync]]\nupstream = "up"\n${extra}\n`;
    expect(() => parse(entry('repositories = ["a"]\ninterval = "30s"'))).toThrow(/key "proxy\.sync\.0\.interval": expected a duration of at least "1m"/);
    expect(() => parse(entry('repositories = ["a"]'))).toThrow(/key "proxy\.sync\.0\.interval"/);
    expect(() => parse(entry('repositories = []\ninterval = "1h"'))).toThrow(/key "proxy\.sync\.0\.repositories"/);
    expect(() => parse(entry('repositories = ["Bad Name"]\ninterval = "1h"'))).toThrow(/key "proxy\.sync\.0\.repositories\.0": expected a repository name/);
    expect(() => parse(entry('repositories = ["a"]\ninterval = "1h"\nplatforms = ["amd64"]'))).toThrow(/key "proxy\.sync\.0\.platforms\.0": expected os\/architecture/);
    expect(() => parse(entry('repositories = ["a"]\ninterval = "1h"\nnewest = 0'))).toThrow(/key "proxy\.sync\.0\.newest"/);
    expect(() => parse(entry('repositories = ["a"]\ninterval = "1h"\nschedule = "daily"'))).toThrow(/unknown key "proxy\.sync\.0\.schedule"/);
  });

  test('not settable from the environment', () => {
    expect(() => parseConfig('', 'c.toml', '/', { KEEL_PROXY_SYNC: 'x' })).not.toThrow();
    expect(parseConfig('', 'c.toml', '/', { KEEL_PROXY_SYNC: 'x' }).proxy.sync).toEqual([]);
  });
});
