// Jest global teardown: removes the private copy of the build that global-setup.js took, and
// kills daemons a test file recorded but did not stop (test/support/stale-daemons.ts), e.g.
// because its process died: a crashed run must not leave a Ceph cluster holding RAM forever.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Kills the daemons recorded under runDir that are still ours and removes their dirs. */
export async function killRecorded(runDir) {
  const records = join(runDir, 'daemons');
  const files = await readdir(records).catch(() => []);
  for (const file of files) {
    const record = JSON.parse(await readFile(join(records, file), 'utf8'));
    for (const pid of [...record.pids].reverse()) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // Only a PID that is still ours: its command line names the daemon's config file (within
      // one argument: nginx rewrites its title into a single string holding its arguments).
      if (!cmdline.split('\0').some((arg) => arg.includes(record.marker))) continue;
      // Its process group too (each daemon leads one, see e2e/processes.ts): nginx's workers.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    const marked = await stat(join(record.dir, '.keel-s3')).then(() => true, () => false);
    if (marked) await rm(record.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

export default async function teardown() {
  const runDir = process.env.TEST_KEEL_RUN_DIR;
  if (runDir) {
    await killRecorded(runDir);
    await rm(runDir, { recursive: true, force: true });
  }
  const root = process.env.TEST_KEEL_BUILD;
  if (root) await rm(root, { recursive: true, force: true });
}
