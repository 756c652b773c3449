/**
 * The slow clients of the slow-client part, as a process of their own (so their sockets and
 * timers do not slow the bench's own process, and its memory is not theirs):
 *
 *   node slow-readers.js <url> <clients> <bytes per second> <file with the expected bytes>
 *
 * Opens `clients` connections at once, each GETting `url` and reading at most `bytes per
 * second` (the socket is paused until its bytes are due: TCP's window then slows the server
 * down, as a modest link would). Every chunk is compared with the expected bytes at its
 * offset (a memcmp; hashing 300 bodies would cost a core). Prints one JSON line on stdout:
 * { served, failures, seconds }, served counting the clients that got status 200 and every
 * byte right; failures says what went wrong for the others (at most 10 listed).
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';

interface Outcome {
  ok: boolean;
  problem?: string;
}

function readSlowly(url: string, rate: number, expected: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ ok: false, problem: `status ${String(res.statusCode)}` });
        return;
      }
      const start = performance.now();
      let offset = 0;
      let wrong = false;
      res.on('data', (chunk: Buffer) => {
        const end = offset + chunk.length;
        if (end > expected.length || !chunk.equals(expected.subarray(offset, end))) wrong = true;
        offset = end;
        const due = start + (offset / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) {
          res.pause();
          setTimeout(() => res.resume(), wait);
        }
      });
      res.once('end', () => {
        if (wrong) resolve({ ok: false, problem: 'wrong bytes' });
        else if (offset !== expected.length) resolve({ ok: false, problem: `${offset} of ${expected.length} bytes` });
        else resolve({ ok: true });
      });
      res.once('error', (err) => resolve({ ok: false, problem: err.message }));
    });
    req.once('error', (err) => resolve({ ok: false, problem: err.message }));
    req.end();
  });
}

async function main(): Promise<void> {
  const [url, clients, rate, file] = process.argv.slice(2);
  if (url === undefined || clients === undefined || rate === undefined || file === undefined) {
    throw new Error('usage: slow-readers.js <url> <clients> <bytes per second> <expected file>');
  }
  const expected = await readFile(file);
  const start = performance.now();
  const outcomes = await Promise.all(Array.from({ length: Number(clients) }, () => readSlowly(url, Number(rate), expected)));
  const failures = outcomes.filter((o) => !o.ok).map((o) => o.problem ?? 'failed');
  process.stdout.write(
    `${JSON.stringify({ served: outcomes.length - failures.length, failures: failures.slice(0, 10), failed: failures.length, seconds: (performance.now() - start) / 1000 })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`slow-readers: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
