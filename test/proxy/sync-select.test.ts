// Which tags a [[proxy.sync]] entry warms, and how the tag list's next page is found.
import { describe, expect, test } from '@jest/globals';
import { nextPageQuery, selectTags, tagPattern } from '../../src/proxy/sync-select.js';

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
  });
});
