// Real clients (docker, podman, skopeo, ctr) pull through Keel's proxy from three real
// upstreams (anonymous, Basic, token auth) and get bit-identical images, each blob leaving its
// upstream once: test/support/e2e/proxy-client-suite.ts, with Keel's storage on the filesystem
// (the defaults, under Keel's temp dir). proxy-clients-s3.test.ts runs the same on S3.
import { describeProxyClients } from '../support/e2e/proxy-client-suite.js';

describeProxyClients("e2e: real clients through Keel's proxy (filesystem storage)", {
  storage: async () => ({ toml: '', stop: async () => undefined }),
});
