/**
 * Blob GET throughput measured with curl: a C client that writes to /dev/null costs a
 * fraction of the CPU a Node client does (on loopback here, a Node client tops out at about
 * half of curl's rate), and on a 2-core machine every cycle the client burns is taken from
 * the server under test.
 */
import { run } from '../../test/support/e2e/run.js';
import { benchToolPath } from './tools.js';

export interface CurlGet {
  bytes: number;
  /** Redirects followed (only with `follow`): 1 when a registry answered 307 to its object store. */
  redirects: number;
  /** Until the first byte of the response (its status line). */
  firstByteMs: number;
  totalMs: number;
}

/**
 * GETs `url` into /dev/null. With `follow`, curl follows redirects (-L) and the times cover
 * the whole chain: the registry's answer, then the GET of the URL it pointed to.
 */
export async function curlGet(url: string, opts: { follow?: boolean } = {}): Promise<CurlGet> {
  const format = '%{http_code} %{size_download} %{time_starttransfer} %{time_total} %{num_redirects}';
  const args = ['-s', ...(opts.follow === true ? ['-L'] : []), '-o', '/dev/null', '-w', format, url];
  const out = (await run(benchToolPath('curl'), args, { timeoutMs: 300_000 })).stdout.toString('utf8');
  const [status, bytes, firstByte, total, redirects] = out.trim().split(' ').map(Number);
  if (status !== 200 || bytes === undefined || firstByte === undefined || total === undefined || redirects === undefined) {
    throw new Error(`curl GET ${url}: ${out}`);
  }
  return { bytes, redirects, firstByteMs: firstByte * 1000, totalMs: total * 1000 };
}

/** The status and Location of a GET's (or HEAD's) first answer, without following it (untimed checks). */
export async function curlFirstAnswer(url: string, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; location: string }> {
  const args = ['-s', ...(method === 'HEAD' ? ['-I'] : []), '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', url];
  const out = (await run(benchToolPath('curl'), args, { timeoutMs: 60_000 })).stdout.toString('utf8');
  const [status = '', location = ''] = out.trim().split(' ');
  return { status: Number(status), location };
}
