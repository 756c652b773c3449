// The proxy e2e suite (test/support/e2e/proxy-client-suite.ts: docker, podman, skopeo and ctr
// pulling through Keel from real upstreams, bit-identical, each blob leaving its upstream
// once, the four-client cold herd) with Keel's proxy_storage on a bucket of a real Ceph RGW,
// through the token-auth upstream (why one: see below).
// Then proof that the cache is the bucket: every pulled blob is an object under the proxy
// prefix and none is a file on Keel's disk.
import { readdir } from 'node:fs/promises';
import { expect, test } from '@jest/globals';
import { describeProxyClients } from '../support/e2e/proxy-client-suite.js';
import { keelS3Storage } from '../support/keel-on-s3.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { listKeys, s3Admin } from '../support/s3-admin.js';

let s3: S3Server;
let bucket: string;

describeProxyClients("e2e: real clients through Keel's proxy (proxy_storage on S3)", {
  // One upstream, not three: how Keel authenticates to an upstream is above the storage, and
  // every storage path (a miss streamed while stored, hits, the herd's single flight, by
  // digest, an index) runs the same for each. The token one has the most moving parts, and
  // keeps the check that the clients never held credentials.
  upstreams: ['token'],
  storage: async () => {
    s3 = await startS3({ memoryBytes: 1024 ** 3 });
    try {
      const storage = await keelS3Storage(s3);
      bucket = storage.bucket;
      return { toml: storage.toml, stop: () => s3.stop() };
    } catch (e) {
      await s3.stop();
      throw e;
    }
  },
  more: (ctx) => {
    test('every blob the clients pulled is an object under the proxy prefix, and none is a file on Keel\'s disk', async () => {
      const admin = s3Admin(s3);
      const keys = await listKeys(admin, bucket, 'proxy/').finally(() => admin.destroy());
      const { pulledBlobs, keel } = ctx();
      const hexes = pulledBlobs.map((d) => d.slice('sha256:'.length));
      expect(keys).toEqual(expect.arrayContaining(hexes.map((hex) => `proxy/blobs/sha256/${hex.slice(0, 2)}/${hex}`)));

      const files = (await readdir(keel.root, { recursive: true })).map(String);
      for (const hex of hexes) expect([hex, files.filter((f) => f.includes(hex))]).toEqual([hex, []]);
    });
  },
});
