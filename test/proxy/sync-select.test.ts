// Which repositories and tags a [[proxy.sync]] entry warms, and how a list's next page is found.
import { describe, expect, test } from '@jest/globals';
import { nextPageQuery, selectRepositories, selectTags, tagPattern, tagVersion } from '../../src/proxy/sync-select.js';

const CATALOG = ['app-1', 'app-12', 'a/x', 'b/x', 'c/x', 'library/alpine', 'library/debian', 'library/nested/one', 'team', 'team/a', 'team/a/b', 'teams/z'];

describe('selectRepositories', () => {
  test('* and ? stay within one path component; ** crosses /', () => {
    expect(selectRepositories(['library/*'], CATALOG)).toEqual(['library/alpine', 'library/debian']);
    expect(selectRepositories(['team/**'], CATALOG)).toEqual(['team', 'team/a', 'team/a/b']);
    expect(selectRepositories(['app-?'], CATALOG)).toEqual(['app-1']);
    expect(selectRepositories(['*'], CATALOG)).toEqual(['app-1', 'app-12', 'team']);
    expect(selectRepositories(['**'], CATALOG)).toEqual(CATALOG);
  });

  test('braces and brackets', () => {
    expect(selectRepositories(['{a,b}/x'], CATALOG)).toEqual(['a/x', 'b/x']);
    expect(selectRepositories(['[bc]/x'], CATALOG)).toEqual(['b/x', 'c/x']);
  });

  test('literal names come first, as given, listed or not; glob matches follow in catalog order, each once', () => {
    expect(selectRepositories(['zeta/only-literal', 'library/debian', 'library/*', 'l*/alpine'], CATALOG)).toEqual(['zeta/only-literal', 'library/debian', 'library/alpine']);
    expect(selectRepositories(['library/alpine'], [])).toEqual(['library/alpine']);
    expect(selectRepositories(['nothing/*'], CATALOG)).toEqual([]);
  });
});

const TAGS = ['1.0', '1.1', '1.10', '1.2', 'latest', 'v1.0', 'xv1.0'];

describe('selectTags', () => {
  test('the regex must match the whole tag', () => {
    expect(selectTags(TAGS, tagPattern('v1\\..*'), undefined)).toEqual(['v1.0']);
    expect(selectTags(TAGS, tagPattern('1\\.1'), undefined)).toEqual(['1.1']);
    expect(selectTags(TAGS, tagPattern('latest|1\\.0'), undefined)).toEqual(['1.0', 'latest']);
  });

  test('newest keeps the last N of the list after filtering', () => {
    expect(selectTags(TAGS, tagPattern('\\d+\\.\\d+'), 2)).toEqual(['1.10', '1.2']);
    expect(selectTags(TAGS, tagPattern('.*'), 100)).toEqual(TAGS);
    expect(selectTags(TAGS, tagPattern('nothing'), 1)).toEqual([]);
  });
});

describe('nextPageQuery', () => {
  test('the query of a rel="next" link, nothing otherwise', () => {
    expect(nextPageQuery('</v2/proxy/up/a/tags/list?last=b&n=2>; rel="next"')).toBe('?last=b&n=2');
    expect(nextPageQuery(undefined)).toBeUndefined();
    expect(nextPageQuery('</v2/proxy/up/a/tags/list>; rel="next"')).toBeUndefined();
    expect(nextPageQuery('</v2/_catalog?last=library%2Falpine&n=100>; rel="next"')).toBe('?last=library%2Falpine&n=100');
  });
});

describe('selectTags with a semver range', () => {
  const VERSIONS = ['1.9', '1.10', '1.2.3', 'v1.11.0', '2.0.0-rc.1', '2.0', '3', '1.10-alpine', 'latest', 'v1'];

  test('only tags that are versions in the range, in version order (1.10 after 1.9)', () => {
    expect(selectTags(VERSIONS, tagPattern('.*'), undefined, '>=1.5 <2')).toEqual(['1.9', '1.10', 'v1.11.0']);
    // A prerelease is only in a range that names one of its version.
    expect(selectTags(VERSIONS, tagPattern('.*'), undefined, '>=2.0.0-rc.0')).toEqual(['2.0.0-rc.1', '2.0', '3']);
    expect(selectTags(VERSIONS, tagPattern('.*'), undefined, '^1')).toEqual(['v1', '1.2.3', '1.9', '1.10', 'v1.11.0']);
  });

  test('newest counts in version order, after the regex', () => {
    expect(selectTags(VERSIONS, tagPattern('.*'), 2, '1.x')).toEqual(['1.10', 'v1.11.0']);
    expect(selectTags(VERSIONS, tagPattern('\\d+\\.\\d+'), 2, '*')).toEqual(['1.10', '2.0']);
  });

  test('what is a version: full semver, or one to three numbers', () => {
    expect(['1.2.3', 'v1.2.3', '1.2', '3', 'v3', '1.2.3-rc.1', '3.19-alpine', 'latest', '1.2.3.4'].map(tagVersion)).toEqual([
      '1.2.3',
      '1.2.3',
      '1.2.0',
      '3.0.0',
      '3.0.0',
      '1.2.3-rc.1',
      undefined,
      undefined,
      undefined,
    ]);
  });
});
