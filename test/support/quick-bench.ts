/** Runs one of the benchmarks (`npm run <script>`) in its BENCH_QUICK=1 form, for the tests that keep it working. */
import { run } from './e2e/run.js';

export interface QuickBenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function runQuickBench(script: string, timeoutMs: number): Promise<QuickBenchRun> {
  const result = await run('npm', ['run', '--silent', script], { env: { ...process.env, BENCH_QUICK: '1' }, timeoutMs, allowFailure: true });
  return { code: result.code, stdout: result.stdout.toString('utf8'), stderr: result.stderr };
}
