// A real full disk: Keel's storage and index on a small tmpfs, filled by the test until the
// kernel says ENOSPC. Every write then gets a clear 507 (not a 500), /ready says the disk is
// full, a failed upload start leaves no file, and everything works again once space is freed.
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, fstatSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { uploadPath, uploadsDir } from '../../src/storage/fs/paths.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

let mountPoint: string;
let keel: KeelProcess;
let client: Client;
let filler: string;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('test/http/disk-full.test.ts mounts a tmpfs to fill a real disk: run it as root');
  mountPoint = await mkdtemp(join(tmpdir(), 'keel-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint]);
  keel = await startKeel({ root: mountPoint });
  client = new Client(keel.url);
  filler = join(mountPoint, 'filler');
});

afterAll(async () => {
  await keel?.stop();
  if (mountPoint) {
    execFileSync('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  }
});

/** Writes the filler file until the filesystem refuses (ENOSPC), then gives back `leave` bytes. */
function fill(leave = 0): void {
  const fd = openSync(filler, 'a');
  try {
    for (const size of [256 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
    if (leave > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leave));
  } finally {
    closeSync(fd);
  }
}

async function expectDiskFull(res: Response): Promise<void> {
  expect(res.status).toBe(507);
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail?: unknown }> };
  expect(body.errors[0]).toMatchObject({ code: 'UNAVAILABLE', detail: { reason: 'disk full' } });
  expect(body.errors[0]?.message).toMatch(/storage is full/);
}

const uploadFiles = async (): Promise<string[]> => (await readdir(uploadsDir(keel.config.temporary_registry_storage)).catch(() => [] as string[])).sort();

describe('on a full disk', () => {
  let base: Awaited<ReturnType<Client['pushImage']>>;
  let session: string;

  beforeAll(async () => {
    base = await client.pushImage('full/app', 'v1', { layers: 1, layerSize: 10_000 });
    const res = await client.fetch('/v2/full/app/blobs/uploads/', { method: 'POST' });
    expect(res.status).toBe(202);
    session = res.headers.get('docker-upload-uuid') as string;
    expect((await client.fetch('/ready')).status).toBe(200);
  });

  test('a chunk that fills the disk half way is 507, and the session keeps its acknowledged length', async () => {
    fill(64 * 1024);
    const res = await client.fetch(`/v2/full/app/blobs/uploads/${session}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-1048575', 'Content-Length': '1048576' },
      body: randomBytes(1 << 20),
    });
    await expectDiskFull(res);
    expect((await stat(uploadPath(keel.config.temporary_registry_storage, session))).size).toBe(0);
  });

  test('upload start, monolithic push, manifest PUT, tag DELETE and mount are 507; a failed start leaves no file', async () => {
    fill();
    const before = await uploadFiles();
    await expectDiskFull(await client.fetch('/v2/full/app/blobs/uploads/', { method: 'POST' }));
    expect(await uploadFiles()).toEqual(before);
    const blob = randomBytes(50_000);
    await expectDiskFull(await client.fetch(`/v2/full/app/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob }));
    expect(await uploadFiles()).toEqual(before);
    const manifest = JSON.stringify({ ...base.manifest, annotations: { again: 'yes' } });
    await expectDiskFull(await client.fetch('/v2/full/app/manifests/v2', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest }));
    await expectDiskFull(await client.fetch('/v2/full/app/manifests/v1', { method: 'DELETE' }));
    const layer = base.blobs[1]?.digest as string;
    await expectDiskFull(await client.fetch(`/v2/full/other/blobs/uploads/?mount=${layer}&from=full/app`, { method: 'POST' }));
  });

  test('/ready is 503 saying the disk is full, and 200 again once space is freed', async () => {
    const res = await client.fetch('/ready');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { problems: string[] }).problems.join('\n')).toMatch(/disk full/);
    await unlink(filler);
    expect((await client.fetch('/ready')).status).toBe(200);
  });

  test('with space again, pushes, manifests, tag deletes and mounts work; the old session takes its chunk', async () => {
    await rm(filler, { force: true });
    const blob = randomBytes(50_000);
    expect(await client.pushBlob('full/app', blob)).toMatchObject({ digest: sha256(blob) });
    const layer = base.blobs[1]?.digest as string;
    expect((await client.fetch(`/v2/full/other/blobs/uploads/?mount=${layer}&from=full/app`, { method: 'POST' })).status).toBe(201);
    const manifest = JSON.stringify({ ...base.manifest, annotations: { again: 'yes' } });
    expect((await client.fetch('/v2/full/app/manifests/v2', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest })).status).toBe(201);
    expect((await client.fetch('/v2/full/app/manifests/v1', { method: 'DELETE' })).status).toBe(202);
    const chunk = randomBytes(1 << 20);
    const patched = await client.fetch(`/v2/full/app/blobs/uploads/${session}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-1048575', 'Content-Length': '1048576' },
      body: chunk,
    });
    expect(patched.status).toBe(202);
    expect((await client.fetch(`/v2/full/app/blobs/uploads/${session}?digest=${sha256(chunk)}`, { method: 'PUT' })).status).toBe(201);
  });
});
