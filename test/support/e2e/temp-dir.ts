// Private scratch directories under os.tmpdir(), one per helper instance.
//
// remove() unmounts leftovers before deleting. Names stay short on purpose: daemons put
// unix sockets in them and a socket path must fit in 108 bytes.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run.js';

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `keel-e2e-${prefix}-`));
  return {
    path,
    remove: async () => {
      await unmountUnder(path);
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/**
 * Lazily unmounts anything a daemon left mounted below `dir` (an overlay snapshot of a
 * killed containerd, say), deepest first, so the recursive delete cannot fail or, worse,
 * reach into a bind-mounted directory.
 */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const points = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', ['-l', point], { allowFailure: true });
}
