import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, randomBytes, sha256, sha512 } from '../support/oci-client.js';
import { fetchBody } from '../support/fetch-body.js';

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  keel = await startKeel();
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

async function startUpload(repo: string): Promise<string> {
  const res = await client.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  expect(res.headers.get('docker-upload-uuid')).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.headers.get('range')).toBe('0-0');
  const location = res.headers.get('location');
  expect(location).toMatch(new RegExp(`^/v2/${repo}/blobs/uploads/`));
  return location as string;
}

function patch(location: string, body: Buffer, range?: string): Promise<Response> {
  return client.fetch(location, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', ...(range ? { 'Content-Range': range } : {}) },
    body: fetchBody(body),
  });
}

describe('monolithic uploads', () => {
  test('POST ?digest= with the body creates the blob (201)', async () => {
    const data = randomBytes(5000);
    const digest = sha256(data);
    const res = await client.fetch(`/v2/up/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/up/mono/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  test('POST then PUT with the whole body', async () => {
    const data = randomBytes(7000);
    const location = await startUpload('up/put');
    const res = await client.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT', body: data });
    expect(res.status).toBe(201);
    const get = await client.fetch(`/v2/up/put/blobs/${sha256(data)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
  });

  test('sha512 digests are verified and served', async () => {
    const data = randomBytes(3000);
    const digest = sha512(data);
    const res = await client.fetch(`/v2/up/sha512/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
    expect(res.status).toBe(201);
    const get = await client.fetch(`/v2/up/sha512/blobs/${digest}`);
    expect(get.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
  });

  test('a digest that does not match is DIGEST_INVALID and nothing becomes visible', async () => {
    const data = randomBytes(1000);
    const claimed = sha256('something else');
    const res = await client.fetch(`/v2/up/bad/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: data });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('DIGEST_INVALID');
    for (const digest of [claimed, sha256(data)]) {
      expect((await client.fetch(`/v2/up/bad/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    }
  });

  test('PUT without a digest is DIGEST_INVALID', async () => {
    const location = await startUpload('up/nodigest');
    const res = await client.fetch(location, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('DIGEST_INVALID');
  });
});

describe('chunked uploads', () => {
  test('PATCH chunks with Content-Range, GET status, PUT to finish', async () => {
    const data = randomBytes(30_000);
    const location = await startUpload('up/chunked');
    const chunks = [data.subarray(0, 10_000), data.subarray(10_000, 25_000), data.subarray(25_000)];
    let offset = 0;
    for (const chunk of chunks) {
      const res = await patch(location, chunk, `${offset}-${offset + chunk.length - 1}`);
      expect(res.status).toBe(202);
      offset += chunk.length;
      expect(res.headers.get('range')).toBe(`0-${offset - 1}`);
      expect(res.headers.get('location')).toBe(location);
    }
    const status = await client.fetch(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${data.length - 1}`);
    const done = await client.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' });
    expect(done.status).toBe(201);
    const get = await client.fetch(`/v2/up/chunked/blobs/${sha256(data)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
  });

  test('PATCH without Content-Range appends (the way docker pushes)', async () => {
    const data = randomBytes(20_000);
    const location = await startUpload('up/stream');
    expect((await patch(location, data.subarray(0, 8000))).status).toBe(202);
    expect((await patch(location, data.subarray(8000))).status).toBe(202);
    const done = await client.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' });
    expect(done.status).toBe(201);
  });

  test('an out-of-order or repeated chunk is 416 and does not change the upload', async () => {
    const data = randomBytes(2000);
    const location = await startUpload('up/order');
    expect((await patch(location, data.subarray(0, 1000), '0-999')).status).toBe(202);
    const repeated = await patch(location, data.subarray(0, 1000), '0-999');
    expect(repeated.status).toBe(416);
    expect(await errorCode(repeated)).toBe('BLOB_UPLOAD_INVALID');
    const skipped = await patch(location, data.subarray(1500), '1500-1999');
    expect(skipped.status).toBe(416);
    const status = await client.fetch(location);
    expect(status.headers.get('range')).toBe('0-999');
    expect((await patch(location, data.subarray(1000), '1000-1999')).status).toBe(202);
    expect((await client.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' })).status).toBe(201);
  });

  test('a malformed Content-Range is 416', async () => {
    const location = await startUpload('up/badrange');
    const res = await patch(location, Buffer.from('abc'), '5-2');
    expect(res.status).toBe(416);
  });

  test('a chunk whose body is shorter than its Content-Range is refused and cut off', async () => {
    const location = await startUpload('up/short');
    const res = await patch(location, Buffer.from('abc'), '0-9');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_INVALID');
    expect((await client.fetch(location)).headers.get('range')).toBe('0-0');
  });

  test('a chunk whose body is longer than its Content-Range is refused and cut off', async () => {
    const location = await startUpload('up/long');
    // fetch sets Content-Length from the body, so the mismatch is with Content-Range.
    const res = await patch(location, Buffer.from('abcdefghij'), '0-2');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_INVALID');
    expect((await client.fetch(location)).headers.get('range')).toBe('0-0');
  });

  test('a client that disconnects mid-chunk leaves the upload at the last good offset', async () => {
    const location = await startUpload('up/abort');
    expect((await patch(location, Buffer.from('hello'), '0-4')).status).toBe(202);
    await new Promise<void>((resolve) => {
      const req = request(`${keel.url}${location}`, {
        method: 'PATCH',
        headers: { 'Content-Length': '100000', 'Content-Range': '5-100004' },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(5000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    // The server notices the reset asynchronously; poll until the offset settles.
    let range: string | null = null;
    for (let i = 0; i < 50; i++) {
      range = (await client.fetch(location)).headers.get('range');
      if (range === '0-4') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(range).toBe('0-4');
    const data = Buffer.from('hello world');
    expect((await patch(location, data.subarray(5), '5-10')).status).toBe(202);
    expect((await client.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' })).status).toBe(201);
  });

  test('DELETE cancels the session (204); afterwards it is BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startUpload('up/cancel');
    expect((await client.fetch(location, { method: 'DELETE' })).status).toBe(204);
    const res = await client.fetch(location);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  test('an unknown or foreign upload id is BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startUpload('up/owner');
    const id = location.split('/').pop() as string;
    for (const path of [`/v2/up/owner/blobs/uploads/not-a-uuid`, `/v2/up/owner/blobs/uploads/00000000-0000-0000-0000-000000000000`, `/v2/up/thief/blobs/uploads/${id}`]) {
      const res = await client.fetch(path, { method: 'PATCH', body: 'x' });
      expect([res.status, path]).toEqual([404, path]);
      expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    }
  });
});

describe('cross-repository mount', () => {
  test('mounts a blob the source repository has (201)', async () => {
    const { digest } = await client.pushBlob('mount/src', 'mount me');
    const res = await client.fetch(`/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/mount/dst/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(await (await client.fetch(`/v2/mount/dst/blobs/${digest}`)).text()).toBe('mount me');
  });

  test('falls back to a new upload session (202) when the source does not have it', async () => {
    const res = await client.fetch(`/v2/mount/dst/blobs/uploads/?mount=${sha256('absent')}&from=mount/src`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\/mount\/dst\/blobs\/uploads\//);
  });
});

describe('restart', () => {
  test('an upload session survives a server restart and finishes with the right digest', async () => {
    const first = await startKeel();
    const c1 = new Client(first.url);
    const data = randomBytes(50_000);
    const res = await c1.fetch('/v2/restart/me/blobs/uploads/', { method: 'POST' });
    const location = res.headers.get('location') as string;
    expect((await c1.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-29999' }, body: data.subarray(0, 30_000) })).status).toBe(202);
    await first.stop();

    const second = await startKeel({ root: first.root });
    try {
      const c2 = new Client(second.url);
      expect((await c2.fetch(location)).headers.get('range')).toBe('0-29999');
      expect((await c2.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '30000-49999' }, body: data.subarray(30_000) })).status).toBe(202);
      expect((await c2.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' })).status).toBe(201);
      const get = await c2.fetch(`/v2/restart/me/blobs/${sha256(data)}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
    } finally {
      await second.destroy();
    }
  });
});
