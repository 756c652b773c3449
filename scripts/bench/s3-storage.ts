/**
 * The S3 server of the S3 columns: one real Ceph RADOS Gateway (test/support/s3-server.ts)
 * started once per run, one bucket per server under test, and the few object operations the
 * workload needs around its timings (none of them is timed).
 *
 * RGW here keeps object data in the OSD's RAM (memstore), about twice the live data, and a
 * full memstore makes every request hang instead of failing. The workload deletes each large
 * blob it will not read again, as it does on disk, and then runs RGW's garbage collector at
 * once (`radosgw-admin gc process --include-all`) rather than waiting for its timer, so the
 * memory in use stays at the blobs that are kept.
 */
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { run } from '../../test/support/e2e/run.js';
import { toolPath } from '../../test/support/e2e/tools.js';
import { startS3, type S3Server } from '../../test/support/s3-server.js';

/** Room for the blobs kept (a 64 MiB and a 512 MiB one per server) and those not yet collected. */
const MEMSTORE_BYTES = 8 * 1024 ** 3;

export interface BenchS3 {
  readonly server: S3Server;
  /** Creates a fresh bucket and resolves with its name. */
  bucket(name: string): Promise<string>;
  /** Keys under `prefix` in `bucket` whose path holds the digest's hex (a blob's object). */
  keysOf(bucket: string, prefix: string, digest: string): Promise<string[]>;
  /** Deletes those keys; resolves with how many there were. */
  deleteBlob(bucket: string, prefix: string, digest: string): Promise<number>;
  /** Frees the RAM of deleted objects now (RGW's GC would wait 10 s or more). */
  collectGarbage(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchS3(): Promise<BenchS3> {
  const server = await startS3({ memoryBytes: MEMSTORE_BYTES });
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    // RGW 16.2 refuses the SDK's default aws-chunked checksummed bodies (S3-TESTING.md, pitfall 10).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const keysOf = async (bucket: string, prefix: string, digest: string): Promise<string[]> => {
    const hex = digest.split(':')[1] ?? digest;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key?.includes(hex) === true) keys.push(o.Key);
      token = page.NextContinuationToken;
    } while (token !== undefined);
    return keys;
  };
  return {
    server,
    async bucket(name) {
      await server.createBucket(name);
      return name;
    },
    keysOf,
    async deleteBlob(bucket, prefix, digest) {
      const keys = await keysOf(bucket, prefix, digest);
      if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
      return keys.length;
    },
    async collectGarbage() {
      await run(toolPath('radosgw-admin'), ['-c', join(server.dir, 'ceph.conf'), 'gc', 'process', '--include-all'], { timeoutMs: 120_000 });
    },
    async stop() {
      client.destroy();
      await server.stop();
    },
  };
}
