import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, test } from '@jest/globals';
import { spawnKeel } from '../support/keel-process.js';

describe('graceful shutdown', () => {
  test('SIGTERM stops accepting, lets an upload in flight complete, then exits 0', async () => {
    const keel = await spawnKeel('[http]\nshutdown_timeout = "20s"\n');
    const chunks = Array.from({ length: 20 }, () => randomBytes(64 * 1024));
    const data = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    let sigtermSent = false;
    const status = new Promise<number>((resolve, reject) => {
      const req = request(`${keel.url}/v2/slow/app/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Length': String(data.length), 'Content-Type': 'application/octet-stream' },
      }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let i = 0;
      const drip = setInterval(() => {
        const chunk = chunks[i++];
        if (chunk) req.write(chunk);
        if (i === 5 && !sigtermSent) {
          sigtermSent = true;
          process.kill(keel.pid, 'SIGTERM');
        }
        if (i >= chunks.length) {
          clearInterval(drip);
          req.end();
        }
      }, 100);
    });
    // Once SIGTERM has been handled, new connections are refused.
    await new Promise((r) => setTimeout(r, 900));
    expect(sigtermSent).toBe(true);
    await expect(fetch(`${keel.url}/v2/`)).rejects.toThrow();
    expect(await status).toBe(201);
    expect(await keel.exited).toBe(0);
    expect(keel.output()).toMatch(/"msg":"shutting down"/);
    await keel.stop();
  }, 60_000);
});
