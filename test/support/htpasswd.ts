/**
 * A fresh storage root holding an `htpasswd` file, for startKeel({ root }) with
 * `[auth] htpasswd = "htpasswd"`. Passwords are hashed with bcrypt at cost 4 (fast, for tests)
 * unless an entry names its cost.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

export type HtpasswdEntry = string | { password: string; cost: number };

/** The htpasswd lines of these users, in order. */
export async function htpasswdLines(users: Record<string, HtpasswdEntry>): Promise<string> {
  const lines = await Promise.all(
    Object.entries(users).map(async ([user, entry]) => {
      const { password, cost } = typeof entry === 'string' ? { password: entry, cost: 4 } : entry;
      return `${user}:${await bcrypt.hash(password, cost)}`;
    }),
  );
  return `${lines.join('\n')}\n`;
}

/**
 * A new temporary directory (`prefix` names it) with `htpasswd` in it; returns the directory.
 * It is made in the test run's scratch dir (TEST_KEEL_RUN_DIR, which global-teardown.js
 * removes), so the callers, twenty across the suite, leave nothing behind in the shared temp
 * folder; outside a jest run, in the system's temp folder.
 */
export async function rootWithUsers(prefix: string, users: Record<string, HtpasswdEntry>): Promise<string> {
  const root = await mkdtemp(join(process.env.TEST_KEEL_RUN_DIR ?? tmpdir(), `${prefix}-`));
  await writeFile(join(root, 'htpasswd'), await htpasswdLines(users));
  return root;
}
