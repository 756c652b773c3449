// Counts requests in a CNCF Distribution log (its access log lines look like
// `... "GET /v2/<name>/blobs/<digest> HTTP/1.1" 200 ...`): the upstream's own record of what
// Keel asked for, used to prove single-flight downloads and tag revalidation.
import { readFile } from 'node:fs/promises';

export async function countRequests(logFile: string, method: string, pathPart: string): Promise<number> {
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
