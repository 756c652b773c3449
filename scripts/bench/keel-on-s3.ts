/**
 * Keel on S3 for the benchmark, or the reason it cannot be measured. A Keel build without a
 * wired S3 backend might refuse `s3://` storage, or take the URL for a directory: so after it
 * starts, one small blob is pushed and the bucket must then hold an object for that digest
 * under the registry's prefix. Anything else means no Keel-on-S3 figures, said as such in the
 * output: never a column measured against the wrong storage.
 */
import { randomBytes } from 'node:crypto';
import { RegistryClient } from './registry-client.js';
import type { BenchS3 } from './s3-storage.js';
import { startKeel, type BenchServer, type KeelUpstream } from './servers.js';

export type KeelOnS3 = { server: BenchServer } | { notRun: string };

const PROBE_REPO = 'bench/probe';

export async function startKeelOnS3(s3: BenchS3, bucket: string, upstreams: readonly KeelUpstream[]): Promise<KeelOnS3> {
  const { endpoint, region, accessKeyId, secretAccessKey } = s3.server;
  let server: BenchServer;
  try {
    server = await startKeel(upstreams, { endpoint, region, accessKeyId, secretAccessKey, bucket });
  } catch (e) {
    return { notRun: `Keel did not start with registry_storage = "s3://${bucket}/registry": ${firstLine(e)}` };
  }
  const prefix = server.s3?.blobPrefix ?? 'registry/blobs/';
  const client = new RegistryClient(server.url);
  try {
    const digest = await client.pushBytes(PROBE_REPO, randomBytes(4096));
    const keys = await s3.keysOf(bucket, prefix, digest);
    if (keys.length === 0) {
      throw new Error(`a blob it accepted (${digest}) has no object under s3://${bucket}/${prefix}: this build stores blobs elsewhere, so its S3 backend is not wired in`);
    }
    return { server };
  } catch (e) {
    await server.stop();
    return { notRun: firstLine(e) };
  } finally {
    client.close();
  }
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
