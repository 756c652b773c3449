// Memory of 2 GiB transfers through the S3 backend, measured in a child process of its own
// (the peak RSS of a jest worker says nothing): a BlobWriter and an upload-store append of
// 2 GiB each, streamed from a reused 1 MiB buffer, against the real RGW. The bound is
// generous (pieces are 16 MiB, at most 3 in memory per transfer: 48 MiB) so it cannot flake,
// yet far below what buffering a blob would take (2 GiB). The child prints its throughput.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { startS3, type S3Server } from '../support/s3-server.js';

jest.setTimeout(600_000);

const MiB = 1024 * 1024;
const PEAK_RSS_LIMIT = 300 * MiB;

let s3: S3Server;
beforeAll(async () => {
  // The OSD holds about twice the live data: pieces and assembled object of 2 GiB each.
  s3 = await startS3({ memoryBytes: 10 * 1024 ** 3 });
  await s3.createBucket('keel-memory');
});
afterAll(async () => {
  await s3?.stop();
});

const CHILD = `
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
const [build, endpoint, key, secret, region] = process.argv.slice(1);
const { createS3Backend } = await import(build + '/dist/storage/s3/s3-backend.js');
const { createS3Client } = await import(build + '/dist/storage/s3/s3-client.js');
const TOTAL = 2 * 1024 ** 3;
const chunk = Buffer.alloc(1 << 20);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131 + 17) & 0xff;
const source = () => Readable.from((function* () { for (let sent = 0; sent < TOTAL; sent += chunk.length) yield chunk; })());
const expected = createHash('sha256');
for (let sent = 0; sent < TOTAL; sent += chunk.length) expected.update(chunk);
const digest = 'sha256:' + expected.digest('hex');
const peak = () => Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const client = createS3Client({ endpoint, region, force_path_style: true, access_key_id: key, secret_access_key: secret }, {});
const backend = createS3Backend({ client, bucket: 'keel-memory', prefix: 'mem' });
const out = { before: peak() };
let t = performance.now();
const writer = await backend.blobs.writer();
await writer.write(source());
out.writerWriteSeconds = (performance.now() - t) / 1000;
await writer.commit(digest);
out.writerSeconds = (performance.now() - t) / 1000;
out.writerPeak = peak();
if ((await backend.blobs.size(digest)) !== TOTAL) throw new Error('writer: wrong size');
await backend.blobs.remove(digest);
t = performance.now();
await backend.uploads.create('big');
await backend.uploads.append('big', 0, source());
out.appendSeconds = (performance.now() - t) / 1000;
if ((await backend.uploads.digest('big', 'sha256')) !== digest) throw new Error('upload: wrong digest');
await backend.uploads.commit('big', digest);
out.uploadSeconds = (performance.now() - t) / 1000;
out.uploadPeak = peak();
if ((await backend.blobs.size(digest)) !== TOTAL) throw new Error('upload: wrong size');
await backend.blobs.remove(digest);
await backend.close();
console.log(JSON.stringify(out));
`;

test('a 2 GiB writer and a 2 GiB upload append keep the process under a flat memory bound', async () => {
  const build = process.env.TEST_KEEL_BUILD;
  if (!build) throw new Error('no build to run: dist/ was missing when the test run started; run "npm run build" first');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', CHILD, join(build), s3.endpoint, s3.accessKeyId, s3.secretAccessKey, s3.region],
    { cwd: build, maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
  const mib = (n: number | undefined): string => ((n ?? 0) / MiB).toFixed(0);
  console.log(
    `2 GiB writer: ${(2048 / (r.writerSeconds ?? 1)).toFixed(0)} MiB/s with commit (${(2048 / (r.writerWriteSeconds ?? 1)).toFixed(0)} MiB/s streaming), peak RSS ${mib(r.writerPeak)} MiB; ` +
      `2 GiB append: ${(2048 / (r.appendSeconds ?? 1)).toFixed(0)} MiB/s (${(2048 / (r.uploadSeconds ?? 1)).toFixed(0)} MiB/s with digest and commit), peak RSS ${mib(r.uploadPeak)} MiB (${mib(r.before)} MiB at start)`,
  );
  expect(r.writerPeak).toBeLessThan(PEAK_RSS_LIMIT);
  expect(r.uploadPeak).toBeLessThan(PEAK_RSS_LIMIT);
});
