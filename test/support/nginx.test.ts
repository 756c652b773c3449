// The nginx harness itself: round-robin with no stickiness over two upstreams, Host passed
// through, bodies streamed both ways, stop() by PID, and jest's global teardown killing a
// recorded nginx (its master and its worker, one process group) and removing its dir.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { processRunning } from './e2e/processes.js';
import { killRecorded } from './global-teardown.js';
import { startNginx } from './nginx.js';

const servers: Server[] = [];
const addresses: string[] = [];

beforeAll(async () => {
  for (const name of ['a', 'b']) {
    const server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => res.end(JSON.stringify({ name, host: req.headers.host, bytes, proto: req.headers['x-forwarded-proto'] })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    addresses.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
});
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The worker PIDs of an nginx master: its children, from /proc. */
async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) out.push(Number(entry));
  }
  return out;
}

test('round-robin over the upstreams, Host passed on, a body streamed through; stop() ends it by PID', async () => {
  const lb = await startNginx(addresses);
  try {
    const answers: Array<{ name: string; host: string; bytes: number; proto: string }> = [];
    for (let i = 0; i < 4; i++) answers.push((await (await fetch(`${lb.url}/x`, { method: 'PUT', body: Buffer.alloc(1024 * 1024) })).json()) as (typeof answers)[number]);
    // Strict alternation: no stickiness, nothing skipped.
    expect(answers.map((a) => a.name).join('')).toMatch(/^(abab|baba)$/);
    for (const a of answers) expect(a).toMatchObject({ host: lb.host, bytes: 1024 * 1024, proto: 'http' });
    const logged = (await lb.accessLog()).filter((r) => r.uri === '/x');
    expect(logged.map((r) => r.upstream).sort()).toEqual([...addresses, ...addresses].sort());
  } finally {
    await lb.stop();
  }
  expect(await processRunning(lb.pid)).toBe(false);
  expect(await exists(lb.dir)).toBe(false);
});

test('global teardown kills a recorded nginx, master and worker, and removes its dir', async () => {
  const saved = process.env.TEST_KEEL_RUN_DIR;
  const runDir = await mkdtemp(join(tmpdir(), 'keel-run-'));
  process.env.TEST_KEEL_RUN_DIR = runDir;
  let lb: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    lb = await startNginx(addresses);
    const workers = await children(lb.pid);
    expect(workers.length).toBeGreaterThan(0);
    await killRecorded(runDir);
    // SIGKILL is asynchronous: wait until the kernel has ended them (a zombie counts as ended).
    for (const pid of [lb.pid, ...workers]) {
      for (let i = 0; i < 500 && (await processRunning(pid)); i++) await new Promise((r) => setTimeout(r, 20));
      expect([pid, await processRunning(pid)]).toEqual([pid, false]);
    }
    expect(await exists(lb.dir)).toBe(false);
  } finally {
    process.env.TEST_KEEL_RUN_DIR = saved;
    await lb?.stop().catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  }
});
