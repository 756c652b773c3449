import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, randomBytes, sha256 } from '../support/oci-client.js';

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  keel = await startKeel();
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

describe('blob GET and HEAD', () => {
  test('GET returns the bytes with digest, length and type headers', async () => {
    const data = randomBytes(300_000);
    const { digest } = await client.pushBlob('blobs/get', data);
    const res = await client.fetch(`/v2/blobs/get/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  test('a client that goes away mid-GET leaves the server serving, the next GET whole', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    const { digest } = await client.pushBlob('blobs/abort', data);
    for (let i = 0; i < 3; i++) {
      const res = await client.fetch(`/v2/blobs/abort/blobs/${digest}`);
      const reader = res.body?.getReader();
      const first = await reader?.read();
      expect(first?.value?.length).toBeGreaterThan(0);
      await reader?.cancel();
    }
    const res = await client.fetch(`/v2/blobs/abort/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
  });

  test('HEAD returns headers without a body', async () => {
    const { digest, size } = await client.pushBlob('blobs/head', 'head me');
    const res = await client.fetch(`/v2/blobs/head/blobs/${digest}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(size));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(await res.text()).toBe('');
  });

  test('Range requests get 206 with Content-Range', async () => {
    const data = Buffer.from('0123456789abcdef');
    const { digest } = await client.pushBlob('blobs/range', data);
    const cases: Array<[string, string, string]> = [
      ['bytes=2-5', '2345', 'bytes 2-5/16'],
      ['bytes=10-', 'abcdef', 'bytes 10-15/16'],
      ['bytes=-3', 'def', 'bytes 13-15/16'],
      ['bytes=14-100', 'ef', 'bytes 14-15/16'],
    ];
    for (const [range, body, contentRange] of cases) {
      const res = await client.fetch(`/v2/blobs/range/blobs/${digest}`, { headers: { Range: range } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(contentRange);
      expect(await res.text()).toBe(body);
    }
  });

  test('an unsatisfiable range is 416 with the size', async () => {
    const { digest } = await client.pushBlob('blobs/range416', '0123');
    const res = await client.fetch(`/v2/blobs/range416/blobs/${digest}`, { headers: { Range: 'bytes=10-20' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */4');
  });

  test('an unknown blob is 404 BLOB_UNKNOWN, also for a blob only another repository has', async () => {
    const { digest } = await client.pushBlob('blobs/owner', 'mine');
    for (const path of [`/v2/blobs/owner/blobs/${sha256('nothing')}`, `/v2/blobs/other/blobs/${digest}`]) {
      const res = await client.fetch(path);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
    }
  });

  test('malformed digests are 400 DIGEST_INVALID', async () => {
    const bad = ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'nodigest:', `sha512:${'a'.repeat(64)}`];
    for (const digest of bad) {
      const res = await client.fetch(`/v2/blobs/get/blobs/${digest}`);
      expect([res.status, digest]).toEqual([400, digest]);
      expect(await errorCode(res)).toBe('DIGEST_INVALID');
    }
  });
});

describe('blob DELETE', () => {
  test('unlinks the blob from the repository (202), then it is unknown there', async () => {
    const { digest } = await client.pushBlob('blobs/del', 'delete me');
    const del = await client.fetch(`/v2/blobs/del/blobs/${digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const res = await client.fetch(`/v2/blobs/del/blobs/${digest}`);
    expect(res.status).toBe(404);
    const again = await client.fetch(`/v2/blobs/del/blobs/${digest}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('BLOB_UNKNOWN');
  });

  test('another repository that has the same blob keeps it', async () => {
    const data = 'shared bytes';
    const { digest } = await client.pushBlob('blobs/a', data);
    await client.pushBlob('blobs/b', data);
    await client.fetch(`/v2/blobs/a/blobs/${digest}`, { method: 'DELETE' });
    const res = await client.fetch(`/v2/blobs/b/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(data);
  });
});
