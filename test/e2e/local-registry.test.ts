// The local registry with real clients: docker, podman, skopeo and containerd push to and pull
// from a real Keel server, and what comes back is bit-identical to what went in.
import { describeRoundTrips } from '../support/e2e/round-trips.js';
import { startKeel } from '../support/keel-server.js';

describeRoundTrips('e2e: real clients against Keel', async () => {
  const keel = await startKeel();
  return { host: keel.host, url: keel.url, stop: () => keel.destroy() };
});
