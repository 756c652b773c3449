// Jest global setup: the tests that run Keel's executables (scripts/keel, scripts/gc) run a
// private copy of the build, taken once when the run starts. A build that rewrites dist/
// meanwhile (`npm run bench` in the bench test, a developer's `npm run build`) then cannot
// hand a child process a half-written module. Test support reads the copy's location from
// TEST_KEEL_BUILD (test/support/build.ts); global-teardown.js removes the copy.
import { cp, mkdtemp, symlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export default async function setup() {
  const dist = resolve('dist');
  try {
    await stat(join(dist, 'main.js'));
  } catch {
    throw new Error(`${dist}/main.js is missing: run "npm run build" first (npm test does it in pretest)`);
  }
  const root = await mkdtemp(join(tmpdir(), 'keel-test-build-'));
  await cp(dist, join(root, 'dist'), { recursive: true });
  await cp(resolve('scripts'), join(root, 'scripts'), { recursive: true });
  await cp(resolve('package.json'), join(root, 'package.json'));
  await symlink(resolve('node_modules'), join(root, 'node_modules'));
  process.env.TEST_KEEL_BUILD = root;
}
