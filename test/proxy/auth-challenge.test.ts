import { describe, expect, test } from '@jest/globals';
import { parseChallenge } from '../../src/proxy/auth-challenge.js';

describe('parseChallenge', () => {
  test('a Bearer challenge with realm, service and scope', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' },
    });
  });

  test('Basic, unquoted values, escapes and odd spacing', () => {
    expect(parseChallenge('Basic realm="keel"')).toEqual({ scheme: 'basic', params: { realm: 'keel' } });
    expect(parseChallenge('bearer  realm=http://x/token , error="insufficient_scope", note="a \\"quoted\\" word"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'http://x/token', error: 'insufficient_scope', note: 'a "quoted" word' },
    });
  });

  test('absent or unknown schemes give undefined', () => {
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
  });
});
