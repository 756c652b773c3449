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
