// Proves the real-client harness against CNCF Distribution (Debian's docker-registry), which
// later serves as the upstream of proxy tests and the yardstick of the benchmark: the same
// round trips Keel must pass, plus every client with htpasswd credentials.
import { expect, test } from '@jest/globals';
import { startDistribution } from '../support/e2e/distribution.js';
import { sha256 } from '../support/e2e/images.js';
import { describeRoundTrips } from '../support/e2e/round-trips.js';

describeRoundTrips('e2e harness: real clients against CNCF Distribution', () => startDistribution(), (ctx) => {
  test('every client passes htpasswd credentials to a protected registry', async () => {
    const creds = { username: 'keel', password: 'e2e-pass word' };
    const { skopeo, podman, containerd, dockerd, layout, image, cleanup } = ctx();
    const secured = cleanup.add('distribution (auth)', await startDistribution({ auth: creds }), (r) => r.stop());
    try {
      const target = (tag: string): string => `${secured.host}/e2e/private:${tag}`;
      const anonymous = await fetch(`${secured.url}/v2/`);
      expect(anonymous.status).toBe(401);
      await expect(skopeo.copy(layout.ref('single'), `docker://${target('v1')}`)).rejects.toThrow(/unauthorized|authentication required/i);

      await skopeo.copy(layout.ref('single'), `docker://${target('v1')}`, { destCredentials: creds, preserveDigests: true });
      expect(sha256(await skopeo.inspectRaw(`docker://${target('v1')}`, { credentials: creds }))).toBe(image.manifest.digest);

      await podman.pull(target('v1'), { credentials: creds });
      expect((await podman.inspectImage(target('v1'))).RepoDigests).toContain(`${secured.host}/e2e/private@${image.manifest.digest}`);

      await containerd.pull(target('v1'), { credentials: creds });
      expect(await containerd.imageDigest(target('v1'))).toBe(image.manifest.digest);

      await dockerd.login(secured.host, creds);
      await dockerd.docker(['pull', target('v1')]);
      expect((await dockerd.inspectImage(target('v1'))).Id).toBe(image.config.digest);
    } finally {
      await secured.stop();
    }
  });
});
