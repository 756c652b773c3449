// Records of daemons a test file started, for jest's global teardown (global-teardown.js):
// if a test file's process dies before its afterAll ran, the teardown kills what is still
// recorded and removes the daemons' dir. One JSON file per cluster under the run's own dir
// (TEST_KEEL_RUN_DIR, made by global-setup.js), so concurrent jest runs never touch each
// other's daemons. Each record names the daemons' config file: the teardown only kills a PID
// whose command line still names it (a PID may have been reused meanwhile).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface DaemonRecord {
  /** Removed by the teardown when it holds the `.keel-s3` marker. */
  dir: string;
  /** A path every recorded daemon has on its command line. */
  marker: string;
  pids: number[];
}

function recordsDir(): string | undefined {
  const run = process.env.TEST_KEEL_RUN_DIR;
  return run ? join(run, 'daemons') : undefined;
}

export async function recordDaemons(dir: string, marker: string, pids: number[]): Promise<void> {
  const records = recordsDir();
  if (records === undefined) return; // not under jest's global setup: the parent-death signal still applies
  await mkdir(records, { recursive: true });
  const record: DaemonRecord = { dir, marker, pids };
  await writeFile(join(records, `${basename(dir)}.json`), JSON.stringify(record));
}

export async function forgetDaemons(dir: string): Promise<void> {
  const records = recordsDir();
  if (records !== undefined) await rm(join(records, `${basename(dir)}.json`), { force: true });
}
