// The S3 test server (s3-server.ts) against the real SDK: it starts, serves the S3 calls the
// storage driver needs, and leaves nothing behind when stopped, or when its test file dies
// (global teardown's stale-daemon guard).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, jest, test } from '@jest/globals';
import { killRecorded } from './global-teardown.js';
import { processRunning, startS3, type S3Server } from './s3-server.js';

jest.setTimeout(180_000);

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

function clientFor(s3: S3Server): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function allGone(pids: readonly number[]): Promise<boolean> {
  for (const pid of pids) if (await processRunning(pid)) return false;
  return true;
}

describe('startS3', () => {
  test('serves Put, Get, Range, multipart and presigned GET, then stops every daemon and removes its dir', async () => {
    const started = Date.now();
    const s3 = await startS3({ memoryBytes: 1024 ** 3 });
    const startMs = Date.now() - started;
    const client = clientFor(s3);
    try {
      expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(s3.pids).toHaveLength(3);
      for (const pid of s3.pids) expect(await processRunning(pid)).toBe(true);
      await s3.createBucket('harness');

      const body = Buffer.from('0123456789abcdefghij');
      await client.send(new PutObjectCommand({ Bucket: 'harness', Key: 'a/b', Body: body }));
      const got = await client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b' }));
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
      const ranged = await client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b', Range: 'bytes=5-9' }));
      expect(ranged.$metadata.httpStatusCode).toBe(206);
      expect(Buffer.from(await ranged.Body!.transformToByteArray()).toString()).toBe('56789');

      // Two parts: every part but the last must be at least 5 MiB.
      const part1 = Buffer.alloc(5 * 1024 * 1024, 'x');
      const part2 = Buffer.from('tail');
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'harness', Key: 'multi' }));
      const p1 = await client.send(new UploadPartCommand({ Bucket: 'harness', Key: 'multi', UploadId, PartNumber: 1, Body: part1 }));
      const p2 = await client.send(new UploadPartCommand({ Bucket: 'harness', Key: 'multi', UploadId, PartNumber: 2, Body: part2 }));
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'harness',
          Key: 'multi',
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
        }),
      );
      const head = await client.send(new HeadObjectCommand({ Bucket: 'harness', Key: 'multi' }));
      expect(head.ContentLength).toBe(part1.length + part2.length);
      expect(head.ETag).toMatch(/-2"$/);

      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'harness', Key: 'a/b' }), { expiresIn: 60 });
      const presigned = await fetch(url);
      expect(presigned.status).toBe(200);
      expect(await presigned.text()).toBe(body.toString());
      const unsigned = await fetch(`${s3.endpoint}/harness/a/b`);
      expect(unsigned.status).toBe(403);

      const rss = await s3.rssBytes();
      expect(rss).toBeGreaterThan(0);
      process.stdout.write(`s3-server: started in ${startMs} ms, RSS ${(rss / 1024 ** 2).toFixed(0)} MiB after the calls above\n`);
    } finally {
      client.destroy();
      const stopping = Date.now();
      await s3.stop();
      process.stdout.write(`s3-server: stopped in ${Date.now() - stopping} ms\n`);
    }
    expect(await allGone(s3.pids)).toBe(true);
    expect(await exists(s3.dir)).toBe(false);
  });

  test('two clusters started at once get their own ports and keys', async () => {
    const [a, b] = await Promise.all([startS3({ memoryBytes: 256 * 1024 ** 2 }), startS3({ memoryBytes: 256 * 1024 ** 2 })]);
    try {
      expect(a.endpoint).not.toBe(b.endpoint);
      expect(a.accessKeyId).not.toBe(b.accessKeyId);
      await a.createBucket('only-in-a');
      await expect(clientFor(b).send(new HeadObjectCommand({ Bucket: 'only-in-a', Key: 'x' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(await allGone([...a.pids, ...b.pids])).toBe(true);
  });

  test("global teardown kills a cluster whose test file died without stopping it", async () => {
    // A private run dir, so the guard under test sees only this cluster.
    const runDir = await mkdtemp(join(tmpdir(), 'keel-s3-guard-'));
    const saved = process.env.TEST_KEEL_RUN_DIR;
    process.env.TEST_KEEL_RUN_DIR = runDir;
    let s3: S3Server | undefined;
    try {
      s3 = await startS3({ memoryBytes: 256 * 1024 ** 2 });
      expect(await exists(join(runDir, 'daemons'))).toBe(true);
      await killRecorded(runDir);
      // SIGKILL is asynchronous: wait until the kernel has ended each daemon (a zombie counts as ended).
      for (let i = 0; i < 500 && !(await allGone(s3.pids)); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await allGone(s3.pids)).toBe(true);
      expect(await exists(s3.dir)).toBe(false);
    } finally {
      process.env.TEST_KEEL_RUN_DIR = saved;
      await s3?.stop();
      await rm(runDir, { recursive: true, force: true });
    }
  });
});
