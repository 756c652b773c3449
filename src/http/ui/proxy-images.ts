/**
 * The proxy cache's copies as an ImageSource for the image pages: only what is cached is
 * read (PullThrough's cached reads), so looking at a page never makes Keel ask an upstream and
 * records no pull. Referrers are not cached: none are shown.
 */
import { RegistryError } from '../../primitives/errors.js';
import { parseProxyName } from '../../proxy/proxy-name.js';
import type { PullThrough } from '../../proxy/pull-through.js';
import type { ImageSource } from '../../registry/image-details.js';

export function proxyImages(proxy: PullThrough): ImageSource {
  return {
    async manifest(repo, ref) {
      const found = await proxy.cachedManifest(parseProxyName(repo), ref);
      if (found === undefined) throw new RegistryError('MANIFEST_UNKNOWN', 'not in the cache', undefined, 404);
      return found;
    },
    async config(repo, digest, max) {
      const bytes = await proxy.cachedBlobBytes(parseProxyName(repo), digest, max);
      if (bytes === undefined) throw new RegistryError('BLOB_UNKNOWN', 'the config blob is not in the cache', undefined, 404);
      return bytes;
    },
    referrers: () => Promise.resolve([]),
  };
}
