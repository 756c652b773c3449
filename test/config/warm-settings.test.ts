// `[proxy.warm]`: how many downloads warming runs at once and its bandwidth cap, from the file
// or the environment, refused with the key named when they cannot work.
import { expect, test } from '@jest/globals';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';

test('by default three downloads at once and no cap', () => {
  expect(parseConfig('', 'c.toml', '/').proxy.warm).toEqual({ concurrency: 3, bandwidth: 0 });
});

test('the cap is a size a second, with or without "/s", or a number of bytes', () => {
  expect(parseConfig('[proxy.warm]\nbandwidth = "50MiB/s"\n', 'c.toml', '/').proxy.warm.bandwidth).toBe(50 * 1024 * 1024);
  expect(parseConfig('[proxy.warm]\nbandwidth = "10MB"\nconcurrency = 8\n', 'c.toml', '/').proxy.warm).toEqual({ concurrency: 8, bandwidth: 10_000_000 });
  expect(parseConfig('[proxy.warm]\nbandwidth = 4096\n', 'c.toml', '/').proxy.warm.bandwidth).toBe(4096);
});

test('from the environment', () => {
  const config = parseConfig('', 'c.toml', '/', { KEEL_PROXY_WARM_BANDWIDTH: '20MiB/s', KEEL_PROXY_WARM_CONCURRENCY: '2' });
  expect(config.proxy.warm).toEqual({ concurrency: 2, bandwidth: 20 * 1024 * 1024 });
});

test.each([
  ['bandwidth = "fast"', /proxy\.warm\.bandwidth.*expected bytes a second such as "50MiB\/s"/s],
  ['bandwidth = "10MiB/h"', /proxy\.warm\.bandwidth/],
  ['concurrency = 0', /proxy\.warm\.concurrency/],
  ['downloads = 3', /proxy\.warm.*downloads/s],
])('refused: %s', (line, message) => {
  expect(() => parseConfig(`[proxy.warm]\n${line}\n`, 'c.toml', '/')).toThrow(ConfigError);
  expect(() => parseConfig(`[proxy.warm]\n${line}\n`, 'c.toml', '/')).toThrow(message);
});
