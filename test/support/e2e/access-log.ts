// Counts requests in a CNCF Distribution log (its access log lines look like
// `... "GET /v2/<name>/blobs/<digest> HTTP/1.1" 200 ...`): the upstream's own record of what
// Keel asked for, used to prove single-flight downloads and tag revalidation.
import { readFile } from 'node:fs/promises';

/** A Distribution started by a test (test/support/e2e/distribution.ts) or the bench: where it listens and where its log goes. */
export type LoggedRegistry = { url: string; process: { logFile: string } } | { url: string; logFile: string };

const logFileOf = (registry: LoggedRegistry): string => ('process' in registry ? registry.process.logFile : registry.logFile);

/** Requests of `method` on a path holding `pathPart` in the registry's log, once it has logged all it answered (logBarrier). */
export async function countRequests(registry: LoggedRegistry, method: string, pathPart: string): Promise<number> {
  const logFile = logFileOf(registry);
  await logBarrier(registry.url, logFile);
  const log = await readFile(logFile, 'utf8');
  let count = 0;
  for (const line of log.split('\n')) {
    const m = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+"/.exec(line);
    if (m && m[1] === method && (m[2] as string).includes(pathPart)) count++;
  }
  return count;
}

/** How many requests of `method` on a path holding `pathPart` got each status, from the same log. */
export async function countStatuses(logFile: string, method: string, pathPart: string): Promise<Map<number, number>> {
  const log = await readFile(logFile, 'utf8');
  const counts = new Map<number, number>();
  for (const line of log.split('\n')) {
    const m = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) /.exec(line);
    if (m && m[1] === method && (m[2] as string).includes(pathPart)) counts.set(Number(m[3]), (counts.get(Number(m[3])) ?? 0) + 1);
  }
  return counts;
}

let barriers = 0;

/**
 * Waits until the registry has logged what it answered so far. Distribution writes a request's
 * access log line after its handler returns, which is after the client has had the whole body:
 * a test that counts right after Keel finished may read the log a line short. So a request of
 * our own goes to the registry after those, and the log is read again until its line is there
 * (by then the earlier handlers, which had already sent everything, have logged too).
 */
export async function logBarrier(registryUrl: string, logFile: string): Promise<void> {
  const marker = `keel-test-barrier-${process.pid}-${++barriers}`;
  await (await fetch(`${registryUrl}/_keel_barrier/${marker}`)).arrayBuffer();
  for (let waited = 0; ; waited += 20) {
    if ((await readFile(logFile, 'utf8')).includes(marker)) return;
    if (waited >= 10_000) throw new Error(`the registry did not log ${marker} within 10 s (${logFile})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
