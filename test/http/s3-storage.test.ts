/**
 * Keel serving its registry and its proxy cache from a real S3 server (Ceph RGW): blobs land
 * in the bucket, blob GETs answer 307 to a presigned URL the client can fetch, HEAD and
 * manifests are answered by Keel, chunked uploads and Range work with redirect off, and an
 * upload session survives a restart of Keel.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { keelS3Storage } from '../support/keel-on-s3.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { s3Admin } from '../support/s3-admin.js';

let s3: S3Server;
let admin: S3Client;

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 1024 ** 3 });
  admin = s3Admin(s3);
}, 120_000);
afterAll(async () => {
  admin?.destroy();
  await s3?.stop();
});

async function keys(bucket: string, prefix: string): Promise<string[]> {
  const listed = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

describe('Keel on S3 with redirects (the default)', () => {
  let keel: KeelProcess;
  let bucket: string;
  beforeAll(async () => {
    const storage = await keelS3Storage(s3);
    bucket = storage.bucket;
    keel = await startKeel({ toml: storage.toml });
  }, 60_000);
  afterAll(() => keel?.destroy());

  test('a pushed blob is an object in the bucket; GET is a 307 to a presigned URL that serves it; HEAD is answered by Keel', async () => {
    const client = new Client(keel.url);
    const data = randomBytes(300 * 1024);
    const blob = await client.pushBlob('s3/app', data);
    const hex = blob.digest.slice('sha256:'.length);
    expect(await keys(bucket, 'registry/blobs/')).toContain(`registry/blobs/sha256/${hex.slice(0, 2)}/${hex}`);

    const get = await client.fetch(`/v2/s3/app/blobs/${blob.digest}`);
    expect(get.status).toBe(307);
    expect(get.headers.get('docker-content-digest')).toBe(blob.digest);
    const location = get.headers.get('location') as string;
    expect(location.startsWith(`${s3.endpoint}/`)).toBe(true);
    expect(location).toContain('X-Amz-Signature=');
    const followed = await fetch(location);
    expect(followed.status).toBe(200);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(blob.digest);

    const head = await client.fetch(`/v2/s3/app/blobs/${blob.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.length));
  });

  test('a blob of another repository is not redirected to: BLOB_UNKNOWN', async () => {
    const client = new Client(keel.url);
    const blob = await client.pushBlob('s3/one', randomBytes(1024));
    const res = await client.fetch(`/v2/s3/other/blobs/${blob.digest}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('location')).toBeNull();
  });

  test('manifests are served by Keel, by tag and by digest', async () => {
    const client = new Client(keel.url);
    const pushed = await client.pushImage('s3/image', 'v1');
    for (const ref of ['v1', pushed.digest]) {
      const res = await client.fetch(`/v2/s3/image/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(pushed.digest);
    }
  });
});

describe('Keel on S3 with redirect = false', () => {
  let keel: KeelProcess;
  let toml: string;
  beforeAll(async () => {
    toml = (await keelS3Storage(s3, { redirect: false })).toml;
    keel = await startKeel({ toml });
  }, 60_000);
  afterAll(() => keel?.destroy());

  test('Keel streams the object, with Range', async () => {
    const client = new Client(keel.url);
    const data = randomBytes(64 * 1024);
    const blob = await client.pushBlob('s3/stream', data);
    const whole = await client.fetch(`/v2/s3/stream/blobs/${blob.digest}`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await client.fetch(`/v2/s3/stream/blobs/${blob.digest}`, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
  });

  test('a chunked upload (small and large PATCHes) survives a restart of Keel and commits the right digest', async () => {
    const data = randomBytes(13 * 1024 * 1024);
    const digest = sha256(data);
    let client = new Client(keel.url);
    const started = await client.fetch('/v2/s3/chunked/blobs/uploads/', { method: 'POST' });
    expect(started.status).toBe(202);
    const path = new URL(started.headers.get('location') as string, keel.url).pathname;
    const patch = async (from: number, to: number): Promise<Response> =>
      client.fetch(path, { method: 'PATCH', body: data.subarray(from, to), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${from}-${to - 1}` } });
    expect((await patch(0, 100_000)).status).toBe(202);
    expect((await patch(100_000, 200_000)).status).toBe(202);

    // A new Keel process on the same bucket and index continues the session.
    await keel.stop();
    keel = await startKeel({ toml, root: keel.root });
    client = new Client(keel.url);
    const status = await client.fetch(path);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-199999');
    expect((await patch(200_000, data.length)).status).toBe(202);
    const done = await client.fetch(`${path}?digest=${digest}`, { method: 'PUT' });
    expect(done.status).toBe(201);
    const got = await client.fetch(`/v2/s3/chunked/blobs/${digest}`);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(digest);
  }, 120_000);

  test('a wrong digest leaves nothing: DIGEST_INVALID and the blob stays unknown', async () => {
    const client = new Client(keel.url);
    const data = randomBytes(1000);
    const wrong = sha256('something else');
    const res = await client.fetch(`/v2/s3/wrong/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DIGEST_INVALID');
    expect((await client.fetch(`/v2/s3/wrong/blobs/${wrong}`, { method: 'HEAD' })).status).toBe(404);
  });
});
