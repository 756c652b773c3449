/**
 * matchV2 tries the hottest routes first (route-match.ts): the order must not change what a
 * path names, including names whose own segments are `manifests`, `blobs`, `uploads`, `tags`.
 */
import { describe, expect, test } from '@jest/globals';
import { decodeSegment, matchV2, routeOf } from '../../src/http/route-match.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('matchV2', () => {
  test.each([
    ['/v2/', { kind: 'base' }],
    ['/v2', { kind: 'base' }],
    ['/v2/_catalog', { kind: 'catalog' }],
    ['/v2/a/b/tags/list', { kind: 'tags', name: 'a/b' }],
    ['/v2/a/tags/list/', { kind: 'tags', name: 'a' }],
    ['/v2/a/manifests/latest', { kind: 'manifest', name: 'a', reference: 'latest' }],
    ['/v2/a/blobs/manifests/x', { kind: 'manifest', name: 'a/blobs', reference: 'x' }],
    ['/v2/a/manifests/tags/list', { kind: 'tags', name: 'a/manifests' }],
    [`/v2/a/blobs/${D}`, { kind: 'blob', name: 'a', digest: D }],
    [`/v2/a/manifests/blobs/${D}`, { kind: 'blob', name: 'a/manifests', digest: D }],
    ['/v2/a/blobs/uploads', { kind: 'uploads', name: 'a' }],
    ['/v2/a/blobs/uploads/', { kind: 'uploads', name: 'a' }],
    ['/v2/a/blobs/uploads/123', { kind: 'upload', name: 'a', id: '123' }],
    ['/v2/blobs/uploads/blobs/uploads', { kind: 'uploads', name: 'blobs/uploads' }],
    [`/v2/a/referrers/${D}`, { kind: 'referrers', name: 'a', digest: D }],
    [`/v2/a/referrers/blobs/${D}`, { kind: 'blob', name: 'a/referrers', digest: D }],
  ])('%s', (path, route) => {
    expect(matchV2(path)).toEqual(route);
  });

  test.each(['/v2/a/manifests/', '/v2/a/blobs/', '/v2x/a/manifests/b', '/other', `/v2/a/manifests/${'x'.repeat(1100)}`])('%s names no route', (path) => {
    expect(matchV2(path)).toBeUndefined();
  });

  test('routeOf matches a request once and keeps the answer, a miss too', () => {
    const req = { path: '/v2/a/manifests/latest' };
    const first = routeOf(req);
    req.path = '/v2/_catalog';
    expect(routeOf(req)).toBe(first);
    const miss = { path: '/nothing' };
    expect(routeOf(miss)).toBeUndefined();
    miss.path = '/v2/';
    expect(routeOf(miss)).toBeUndefined();
  });
});

describe('decodeSegment', () => {
  test('gives a segment without escapes back as it is, decodes escapes, refuses malformed ones', () => {
    expect(decodeSegment('latest')).toBe('latest');
    expect(decodeSegment('sha256%3Aabc')).toBe('sha256:abc');
    expect(decodeSegment('%E0%A4%A')).toBeUndefined();
  });
});
