/**
 * Debian's nginx serving one directory of files from disk: the slow-client part's limit (what
 * serving the same file takes at the least). One worker, sendfile on (nginx's usual setting:
 * the kernel sends the page cache, nothing is copied through user space), no access log.
 * Its master is a child of this process (daemon off); pids() names the master and its worker,
 * whose memory the caller adds up.
 *
 * Layout of its temp dir: nginx.conf, nginx.pid, error.log, nginx.out, *_temp/ (private, unused).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/e2e/ports.js';
import { httpResponds, startProcess } from '../../test/support/e2e/processes.js';
import { benchToolPath } from './tools.js';
import { stopThenRemove } from './servers.js';

export interface StaticNginx {
  readonly url: string;
  readonly pid: number;
  /** The PIDs whose memory counts: the master and its worker. */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

const TEMP_DIRS = ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp'];

function conf(dir: string, root: string, port: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? 'user root root;' : ''}
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
${TEMP_DIRS.map((d) => `  ${d.replace('_temp', '_temp_path')} ${dir}/${d};`).join('\n')}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`;
}

/** Serves the files under `root` at http://127.0.0.1:PORT/<name>. */
export async function startStaticNginx(root: string): Promise<StaticNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-nginx-'));
  try {
    for (const d of TEMP_DIRS) await mkdir(join(dir, d));
    const port = await freePort();
    const config = join(dir, 'nginx.conf');
    await writeFile(config, conf(dir, root, port));
    const proc = await startProcess({
      name: 'nginx (static)',
      file: benchToolPath('nginx'),
      args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', config],
      logFile: join(dir, 'nginx.out'),
      ready: httpResponds({ url: `http://127.0.0.1:${port}/nginx-probe` }, [404]),
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 10_000,
    });
    return {
      url: `http://127.0.0.1:${port}`,
      pid: proc.pid,
      async pids() {
        const children = (await readFile(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').catch(() => '')).trim();
        return [proc.pid, ...children.split(/\s+/).filter((p) => p !== '').map(Number)];
      },
      stop: stopThenRemove(proc, dir),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
