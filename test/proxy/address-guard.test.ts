import { describe, expect, test } from '@jest/globals';
import { checkLiteralHost, isPrivateAddress, PrivateAddressError, publicOnlyLookup } from '../../src/proxy/address-guard.js';

describe('address guard', () => {
  test('classifies loopback, private, link-local and other special ranges as non-public', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '224.0.0.1']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['8.8.8.8', '151.101.1.1', '2606:4700::1111']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, false]);
    }
  });

  test('IP literals are checked without DNS', () => {
    expect(() => checkLiteralHost('169.254.169.254')).toThrow(PrivateAddressError);
    expect(() => checkLiteralHost('[::1]')).toThrow(PrivateAddressError);
    expect(() => checkLiteralHost('8.8.8.8')).not.toThrow();
    expect(() => checkLiteralHost('registry.example')).not.toThrow();
  });

  test('a name that resolves to loopback is refused by the lookup', async () => {
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => publicOnlyLookup('localhost', {}, (err) => resolve(err)));
    expect(error).toBeInstanceOf(PrivateAddressError);
    expect(error?.message).toMatch(/localhost resolves to .*non-public.*allow_private/);
  });
});
