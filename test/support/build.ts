/**
 * Where the tests find Keel's executables: the private copy of the build that jest's global
 * setup took when the run started (global-setup.js), so a build rewriting dist/ during the
 * run changes nothing under a test.
 */
import { join } from 'node:path';

function buildRoot(): string {
  const root = process.env.TEST_KEEL_BUILD;
  if (!root) throw new Error('no build to run: dist/main.js was missing when the test run started; run "npm run build" first (npm test does it in pretest)');
  return root;
}

/** scripts/keel, dist/main.js, scripts/gc and scripts/warm of the copy. */
export const build = {
  get keel(): string {
    return join(buildRoot(), 'scripts/keel');
  },
  get main(): string {
    return join(buildRoot(), 'dist/main.js');
  },
  get gc(): string {
    return join(buildRoot(), 'scripts/gc');
  },
  get warm(): string {
    return join(buildRoot(), 'scripts/warm');
  },
};
