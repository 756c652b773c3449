/** GETs a URL with node:http and hashes the body as it streams (for blobs too big to buffer). */
import { createHash } from 'node:crypto';
import { request } from 'node:http';

export interface Pulled {
  status: number;
  digest: string;
  bytes: number;
}

export function streamPull(url: string): Promise<Pulled> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
