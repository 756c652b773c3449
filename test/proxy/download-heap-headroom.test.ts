// A proxy download holds the process's heap headroom (src/primitives/heap-headroom.ts) while
// it writes, and gives it back when it is stored or has failed: a real listening Keel, a
// hand-written loopback upstream that holds a blob's rest until the test releases it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { v8HeapHeadroom } from '../../src/primitives/heap-headroom.js';
import { gate, startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { randomBytes, sha256 } from '../support/oci-client.js';

const KiB = 1024;

/** Reads a GET's body to its end (or its cut) and resolves with what arrived. */
async function pull(url: string, started: (res: Response) => void): Promise<{ status: number; bytes: Buffer | undefined }> {
  const res = await fetch(url);
  started(res);
  try {
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  } catch {
    return { status: res.status, bytes: undefined };
  }
}

describe('the heap headroom during a proxy download', () => {
  let fault: FaultServer;
  let keel: KeelProcess;
  const held = (): number => v8HeapHeadroom.held;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    keel = await startKeel({ toml: `[proxy.upstreams.gated]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "60s"\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  test.each([
    ['stored', false],
    ['failed (the upstream cut the connection)', true],
  ])('held from the first bytes until the download is %s', async (_name, cut) => {
    const data = randomBytes(256 * KiB);
    const digest = sha256(data);
    const upstream = gate(fault, data, 64 * KiB, cut);
    expect(held()).toBe(0);
    let headers!: () => void;
    const answered = new Promise<void>((resolve) => {
      headers = resolve;
    });
    const result = pull(`${keel.url}/v2/proxy/gated/app/${cut ? 'cut' : 'whole'}/blobs/${digest}`, () => headers());
    // The client has its headers once the upstream answered: the download is writing.
    await answered;
    expect(held()).toBe(1);
    upstream.release();
    const { status, bytes } = await result;
    expect(status).toBe(200);
    if (cut) expect(bytes).toBeUndefined();
    else expect(bytes?.equals(data)).toBe(true);
    // The client's last byte comes after the blob is stored; a cut client hears of it when the download failed.
    expect(held()).toBe(0);
  });
});
