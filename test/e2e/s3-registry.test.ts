// The local registry on S3 with real clients: the round trips of local-registry.test.ts (skopeo,
// docker, podman and containerd push and pull bit-identical, a multi-arch index per platform)
// against Keel whose registry_storage is a bucket on a real Ceph RGW, redirects on (the default).
// Then proof that the pulls went through a 307: the blobs are objects in the bucket, none is a
// file on Keel's disk, Keel answered every blob GET with 307 and streamed none, and RGW's own
// log shows each client (by its User-Agent) fetching the objects from RGW with a presigned URL.
import { readdir } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { expect, test } from '@jest/globals';
import { pino } from 'pino';
import type { BuiltImage } from '../support/e2e/images.js';
import { describeRoundTrips } from '../support/e2e/round-trips.js';
import { keelS3Storage } from '../support/keel-on-s3.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { listKeys, s3Admin } from '../support/s3-admin.js';

interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

/** One GET in RGW's beast access log (logged at its default debug level, 1). */
interface RgwGet {
  target: string;
  status: number;
  agent: string;
}

/** `... beast: 0x..: 127.0.0.1 - user [date] "GET /bucket/key?query HTTP/1.1" 200 SIZE - "agent" - latency=...` */
function rgwGets(log: string): RgwGet[] {
  const gets: RgwGet[] = [];
  for (const line of log.split('\n')) {
    const m = / beast: .*"GET (\S+) HTTP\/[\d.]+" (\d{3}) \S+ \S+ "([^"]*)"/.exec(line);
    if (m) gets.push({ target: m[1] as string, status: Number(m[2]), agent: m[3] as string });
  }
  return gets;
}

let s3: S3Server;
let keel: KeelProcess;
let bucket: string;
/** Keel's request log lines (info level), as pino wrote them. */
const requests: LoggedRequest[] = [];

describeRoundTrips(
  'e2e: real clients against Keel on S3 (redirects on)',
  async () => {
    s3 = await startS3({ memoryBytes: 1024 ** 3 });
    try {
      const storage = await keelS3Storage(s3);
      bucket = storage.bucket;
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
            const entry = JSON.parse(line) as Partial<LoggedRequest> & { msg?: string };
            if (entry.msg === 'request') requests.push({ method: entry.method ?? '', path: entry.path ?? '', status: entry.status ?? 0 });
          }
          done();
        },
      });
      keel = await startKeel({ toml: storage.toml, logger: pino({ level: 'info' }, sink) });
    } catch (e) {
      await s3.stop();
      throw e;
    }
    return {
      host: keel.host,
      url: keel.url,
      stop: async () => {
        try {
          await keel.destroy();
        } finally {
          await s3.stop();
        }
      },
    };
  },
  (ctx) => {
    /** The config and layers of the single image and of both platforms of the index. */
    const pulledBlobs = (): string[] => {
      const { image, index } = ctx();
      return [image, ...index.images].flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)]);
    };
    const objectKey = (digest: string): string => {
      const hex = digest.slice('sha256:'.length);
      return `registry/blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    };

    test('every pushed blob is an object in the bucket, and none is a file on Keel\'s disk', async () => {
      const admin = s3Admin(s3);
      const keys = await listKeys(admin, bucket, 'registry/blobs/').finally(() => admin.destroy());
      expect(keys).toEqual(expect.arrayContaining(pulledBlobs().map(objectKey)));

      const files = (await readdir(keel.root, { recursive: true })).map(String);
      for (const digest of pulledBlobs()) {
        const hex = digest.slice('sha256:'.length);
        expect([digest, files.filter((f) => f.includes(hex))]).toEqual([digest, []]);
      }
    });

    test('Keel answered every blob GET with a 307 and streamed none', async () => {
      const blobGets = requests.filter((r) => r.method === 'GET' && /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/.test(r.path));
      expect(blobGets.filter((r) => r.status !== 307)).toEqual([]);
      // docker, podman and ctr each pulled the single image, and skopeo's test fetched its layers.
      for (const layer of ctx().image.layers) {
        const redirected = blobGets.filter((r) => r.path === `/v2/e2e/harness/blobs/${layer.descriptor.digest}`);
        expect(redirected.length).toBeGreaterThanOrEqual(4);
      }
    });

    test('docker, podman and containerd fetched the objects from RGW with the presigned URL; Keel read none', async () => {
      const gets = rgwGets(await s3.rgwLog());
      /** The clients (by User-Agent product) that fetched `digest`'s object with a presigned URL. */
      const fetchedBy = (digest: string): string[] => {
        const path = `/${bucket}/${objectKey(digest)}?`;
        const agents = gets.filter((g) => g.target.startsWith(path) && g.target.includes('X-Amz-Signature=') && g.status === 200).map((g) => g.agent.split('/')[0] ?? '');
        return [...new Set(agents)].sort();
      };
      const { image, index } = ctx();
      const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
      const blobs = (i: BuiltImage): string[] => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)];
      // containers/image is podman's library (skopeo never pulled these).
      for (const d of blobs(image)) expect([d, fetchedBy(d)]).toEqual([d, expect.arrayContaining(['containerd', 'containers', 'docker'])]);
      for (const d of blobs(arm64)) expect([d, fetchedBy(d)]).toEqual([d, expect.arrayContaining(['containerd', 'docker'])]);
      for (const d of blobs(amd64)) expect([d, fetchedBy(d)]).toEqual([d, expect.arrayContaining(['containerd', 'containers'])]);
      // Keel itself (the AWS SDK) never read a blob object: it only redirected.
      const keelReads = gets.filter((g) => g.agent.startsWith('aws-sdk-js/') && g.target.startsWith(`/${bucket}/registry/blobs/`));
      expect(keelReads).toEqual([]);
    });
  },
);
