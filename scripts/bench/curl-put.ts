/**
 * Monolithic blob pushes sent by curl from a file (`curl -T`): like the GETs (curl-get.ts), a
 * C client reading from the page cache leaves both cores to the server under test, where a
 * Node client generating the bytes took a third of a core at these rates.
 */
import { run } from '../../test/support/e2e/run.js';
import { benchToolPath } from './tools.js';

/** PUTs the file's bytes to `url`; resolves with the status and the milliseconds curl took. */
export async function curlPut(url: string, file: string, headers: Record<string, string>): Promise<{ status: number; totalMs: number }> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '-X', 'PUT', '-T', file];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(url);
  const out = (await run(benchToolPath('curl'), args, { timeoutMs: 300_000 })).stdout.toString('utf8');
  const [status, total] = out.trim().split(' ').map(Number);
  if (status === undefined || total === undefined || !Number.isFinite(total)) throw new Error(`curl PUT ${url}: ${out}`);
  return { status, totalMs: total * 1000 };
}
