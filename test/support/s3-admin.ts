/**
 * The tests' own view of a bucket on the test S3 server (test/support/s3-server.ts): a client
 * with the server's keys and a full listing, to check what Keel left in the bucket.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3Server } from './s3-server.js';

/** A client of `s3` with its keys; the caller destroys it. */
export function s3Admin(s3: S3Server): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    // RGW 16.2 refuses the SDK's default aws-chunked checksummed bodies
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Every key under `prefix` in `bucket`, all pages. */
export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return keys;
}
