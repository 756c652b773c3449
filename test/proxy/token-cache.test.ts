import { describe, expect, test } from '@jest/globals';
import { TokenCache } from '../../src/proxy/token-cache.js';

function manualClock(start: number) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('TokenCache', () => {
  test('keeps a token per upstream and scope until expires_in less a margin', () => {
    const clock = manualClock(1_000_000);
    const cache = new TokenCache(clock);
    cache.set('hub', 'repository:a:pull', 'tok-a', 300, undefined);
    expect(cache.get('hub', 'repository:a:pull')).toBe('tok-a');
    expect(cache.get('hub', 'repository:b:pull')).toBeUndefined();
    expect(cache.get('quay', 'repository:a:pull')).toBeUndefined();
    clock.advance(289_000);
    expect(cache.get('hub', 'repository:a:pull')).toBe('tok-a');
    clock.advance(2_000);
    expect(cache.get('hub', 'repository:a:pull')).toBeUndefined();
  });

  test('defaults to 60 s without expires_in, and counts from a sane issued_at', () => {
    const clock = manualClock(Date.parse('2026-01-01T00:00:00Z'));
    const cache = new TokenCache(clock);
    cache.set('hub', 's', 'default', undefined, undefined);
    cache.set('hub', 't', 'issued-earlier', 60, '2025-12-31T23:59:30Z');
    clock.advance(25_000);
    expect(cache.get('hub', 't')).toBeUndefined();
    expect(cache.get('hub', 's')).toBe('default');
    clock.advance(30_000);
    expect(cache.get('hub', 's')).toBeUndefined();
  });

  test('a short-lived token still lives half its lifetime; drop removes it', () => {
    const clock = manualClock(0);
    const cache = new TokenCache(clock);
    cache.set('u', 's', 'short', 4, undefined);
    clock.advance(1_900);
    expect(cache.get('u', 's')).toBe('short');
    cache.drop('u', 's');
    expect(cache.get('u', 's')).toBeUndefined();
  });

  test('no token outlives an hour, whatever expires_in says (huge, or Infinity from JSON 1e400)', () => {
    const clock = manualClock(0);
    const cache = new TokenCache(clock);
    cache.set('u', 'huge', 'huge', 1e12, undefined);
    cache.set('u', 'inf', 'inf', JSON.parse('1e400') as number, undefined);
    clock.advance(59 * 60_000);
    expect([cache.get('u', 'huge'), cache.get('u', 'inf')]).toEqual(['huge', 'inf']);
    clock.advance(60_000);
    expect([cache.get('u', 'huge'), cache.get('u', 'inf')]).toEqual([undefined, undefined]);
  });
});
