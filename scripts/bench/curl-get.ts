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
  /** Until the first byte of the response (its status line). */
  firstByteMs: number;
  totalMs: number;
}

export async function curlGet(url: string): Promise<CurlGet> {
  const format = '%{http_code} %{size_download} %{time_starttransfer} %{time_total}';
  const out = (await run(benchToolPath('curl'), ['-s', '-o', '/dev/null', '-w', format, url], { timeoutMs: 300_000 })).stdout.toString('utf8');
  const [status, bytes, firstByte, total] = out.trim().split(' ').map(Number);
  if (status !== 200 || bytes === undefined || firstByte === undefined || total === undefined) {
    throw new Error(`curl GET ${url}: ${out}`);
  }
  return { bytes, firstByteMs: firstByte * 1000, totalMs: total * 1000 };
}
