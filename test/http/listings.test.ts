import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode } from '../support/oci-client.js';

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  keel = await startKeel();
  client = new Client(keel.url);
  const { manifest } = await client.pushImage('list/tags', 'c');
  for (const tag of ['a', 'b', 'd', 'e']) {
    await client.pushManifest('list/tags', tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
  }
  await client.pushImage('list/other', 'x');
});
afterAll(() => keel.destroy());

describe('tags/list', () => {
  test('lists all tags in lexical order', async () => {
    const res = await client.fetch('/v2/list/tags/tags/list');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect(await res.json()).toEqual({ name: 'list/tags', tags: ['a', 'b', 'c', 'd', 'e'] });
  });

  test('paginates with n and last and a Link header', async () => {
    const first = await client.fetch('/v2/list/tags/tags/list?n=2');
    expect(await first.json()).toEqual({ name: 'list/tags', tags: ['a', 'b'] });
    expect(first.headers.get('link')).toBe('</v2/list/tags/tags/list?n=2&last=b>; rel="next"');
    const second = await client.fetch('/v2/list/tags/tags/list?n=2&last=b');
    expect(((await second.json()) as { tags: string[] }).tags).toEqual(['c', 'd']);
    const third = await client.fetch('/v2/list/tags/tags/list?n=2&last=d');
    expect(((await third.json()) as { tags: string[] }).tags).toEqual(['e']);
    expect(third.headers.get('link')).toBeNull();
    const zero = await client.fetch('/v2/list/tags/tags/list?n=0');
    expect(((await zero.json()) as { tags: string[] }).tags).toEqual([]);
  });

  test('an unknown repository is NAME_UNKNOWN', async () => {
    const res = await client.fetch('/v2/no/such/tags/list');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NAME_UNKNOWN');
  });

  test('a non-numeric n is PAGINATION_NUMBER_INVALID', async () => {
    const res = await client.fetch('/v2/list/tags/tags/list?n=-1');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
  });
});

describe('_catalog', () => {
  test('lists repositories and paginates', async () => {
    const all = await client.fetch('/v2/_catalog');
    expect(await all.json()).toEqual({ repositories: ['list/other', 'list/tags'] });
    const page = await client.fetch('/v2/_catalog?n=1');
    expect(await page.json()).toEqual({ repositories: ['list/other'] });
    expect(page.headers.get('link')).toBe('</v2/_catalog?n=1&last=list%2Fother>; rel="next"');
    const next = await client.fetch('/v2/_catalog?n=1&last=list%2Fother');
    expect(await next.json()).toEqual({ repositories: ['list/tags'] });
  });

  test('a repository whose manifests and tags are all deleted is no longer listed; one with an untagged manifest is', async () => {
    const gone = await client.pushImage('list/emptied', 'v1');
    const untagged = await client.pushImage('list/untagged', 'v1');
    await client.pushBlob('list/blobs-only', 'a layer whose manifest is not pushed yet');
    expect((await client.fetch(`/v2/list/emptied/manifests/${gone.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await client.fetch('/v2/list/untagged/manifests/v1', { method: 'DELETE' })).status).toBe(202);
    const res = await client.fetch('/v2/_catalog');
    expect(await res.json()).toEqual({ repositories: ['list/other', 'list/tags', 'list/untagged'] });
    // Pagination counts listed repositories only: the emptied one is no gap in a page.
    const page = await client.fetch('/v2/_catalog?n=1&last=list%2Fother');
    expect(await page.json()).toEqual({ repositories: ['list/tags'] });
    expect((await client.fetch(`/v2/list/untagged/manifests/${untagged.digest}`)).status).toBe(200);
  });
});
