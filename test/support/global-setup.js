// Jest global setup: the tests that run Keel's executables (scripts/keel, scripts/gc) run a
// private copy of the build, taken once when the run starts. A build that rewrites dist/
// meanwhile (`npm run bench` in the bench test, a developer's `npm run build`) then cannot
// hand a child process a half-written module. Test support reads the copy's location from
// TEST_KEEL_BUILD (test/support/build.ts); global-teardown.js removes the copy.
// TEST_KEEL_RUN_DIR is the run's scratch dir (test/support/stale-daemons.ts).
import { cp, mkdtemp, symlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export default async function setup() {
  // Tests' own S3 clients (an admin client listing a bucket): on Node 20 the AWS SDK prints a
  // nine-line notice that its releases after January 2027 need Node 22. Keel's own client
  // factory silences it the same way (src/storage/s3/s3-client.ts).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The run's own scratch dir: test support records daemons there for global-teardown.js.
  process.env.TEST_KEEL_RUN_DIR = await mkdtemp(join(tmpdir(), 'keel-test-run-'));
  const dist = resolve('dist');
  // Without a build, only tests that run the executables fail (build.ts says what to do).
  const built = await stat(join(dist, 'main.js')).then(() => true, () => false);
  if (!built) return;
  const root = await mkdtemp(join(tmpdir(), 'keel-test-build-'));
  await cp(dist, join(root, 'dist'), { recursive: true });
  await cp(resolve('scripts'), join(root, 'scripts'), { recursive: true });
  await cp(resolve('package.json'), join(root, 'package.json'));
  await symlink(resolve('node_modules'), join(root, 'node_modules'));
  process.env.TEST_KEEL_BUILD = root;
}
