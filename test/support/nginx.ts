// nginx from Debian as an ordinary load balancer in front of several Keel replicas: plain
// round-robin over the upstream addresses, no stickiness, nothing buffered, so every request
// of a client may land on a different replica (the situation issue 18 must survive).
//
// Layout under the temp dir (nothing in /etc/nginx, /var/log/nginx or /run):
//   nginx.conf     written here; `daemon off`, so the master stays our child and its PID is ours
//   nginx.pid      the master's own pid file (not /run/nginx.pid)
//   error.log      also given with -e, so nginx never opens /var/log/nginx/error.log at start
//   access.log     one line per request: "METHOD URI" status, and which upstream answered
//   *_temp/        body and proxy temp paths (unused with buffering off, but kept private)
//   .keel-s3       marker: global teardown removes dirs that carry it
//
// The master runs in the foreground as a child of this node process (e2e/processes.ts, with a
// parent-death signal) and its PID is recorded for jest's global teardown (stale-daemons.ts),
// which kills its process group (the workers) if a test file dies first. stop() sends SIGTERM
// to the group (nginx's fast shutdown) and checks the master is gone.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './e2e/ports.js';
import { allReady, httpResponds, processRunning, startProcess, type ManagedProcess, type ReadyCheck } from './e2e/processes.js';
import { makeTempDir } from './e2e/temp-dir.js';
import { ensureTools, toolPath } from './e2e/tools.js';
import { forgetDaemons, recordDaemons } from './stale-daemons.js';

export interface Nginx {
  /** 127.0.0.1:PORT, as image references use it. */
  readonly host: string;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** Every request nginx has logged so far, in order. */
  accessLog(): Promise<NginxRequest[]>;
  /** nginx's error log (warnings and errors about upstreams and clients). */
  errorLog(): Promise<string>;
  /** Idempotent: stops nginx by its PID and removes the dir. */
  stop(): Promise<void>;
}

/** One access-log line. */
export interface NginxRequest {
  method: string;
  uri: string;
  status: number;
  /** The upstream address ("127.0.0.1:PORT") that answered. */
  upstream: string;
}

const PORT_ATTEMPTS = 5;

/** `|`-separated so a URI with spaces (none in the registry API) cannot shift the fields. */
const LOG_FORMAT = `'$request_method|$request_uri|$status|$upstream_addr'`;

/** How nginx serves Keel: at its root (a load balancer), or under a sub-path as a site's reverse proxy. */
export interface NginxOptions {
  /** "/registry": `location /registry/ { proxy_pass http://keel/; }`, which strips the prefix (Keel's `[ui] path_prefix`). */
  pathPrefix?: string;
}

function nginxConf(dir: string, port: number, upstreams: readonly string[], options: NginxOptions): string {
  const asRoot = process.getuid?.() === 0;
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
${asRoot ? 'user root root;' : ''}
events { worker_connections 1024; }
http {
  log_format keel ${LOG_FORMAT};
  access_log ${dir}/access.log keel;
  client_body_temp_path ${dir}/client_body_temp;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  # Round-robin is nginx's default: no ip_hash, no hash, no sticky cookie.
  upstream keel {
${upstreams.map((u) => `    server ${u};`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    # Blobs stream both ways: a 256 MiB layer must not be spooled to disk first.
    client_max_body_size 0;
    proxy_buffering off;
    proxy_request_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # Keel builds its token realm from Host: clients must see the balancer's address.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    # A waiter may wait long on a slow upstream download.
    proxy_connect_timeout 10s;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    # nginx's default: a refused connection (a dead replica) goes to the next server. A request
    # a replica already received is never resent (nginx does not retry a PATCH or POST it has
    # sent, and cannot resend an unbuffered body): a replica killed mid-request reaches the
    # client as a broken response, as with any load balancer.
    proxy_next_upstream error timeout;
${
  options.pathPrefix
    ? `    location ${options.pathPrefix}/ {
      proxy_pass http://keel/;
    }`
    : `    location / {
      proxy_pass http://keel;
    }`
}
  }
}
`;
}

function pidFileWritten(file: string): ReadyCheck {
  return async () => (await readFile(file, 'utf8').catch(() => '')).trim() !== '';
}

function parseAccessLog(text: string): NginxRequest[] {
  const out: NginxRequest[] = [];
  for (const line of text.split('\n')) {
    const [method, uri, status, upstream] = line.split('|');
    if (method === undefined || uri === undefined || status === undefined || upstream === undefined) continue;
    out.push({ method, uri, status: Number(status), upstream });
  }
  return out;
}

/**
 * Starts nginx balancing round-robin over `upstreams` ("127.0.0.1:PORT" each); resolves once it
 * answers on its port. Installs Debian's nginx first when /usr/sbin/nginx is missing (as root),
 * or throws naming what is missing.
 */
export async function startNginx(upstreams: readonly string[], options: NginxOptions = {}): Promise<Nginx> {
  if (upstreams.length === 0) throw new Error('startNginx: no upstream addresses');
  await ensureTools(['nginx']);
  const tmp = await makeTempDir('nginx');
  const dir = tmp.path;
  const conf = join(dir, 'nginx.conf');
  try {
    await writeFile(join(dir, '.keel-s3'), '');
    for (const d of ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp']) await mkdir(join(dir, d));
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(conf, nginxConf(dir, port, upstreams, options));
      const logFile = join(dir, 'nginx.out');
      let proc: ManagedProcess;
      try {
        proc = await startProcess({
          name: 'nginx',
          file: toolPath('nginx'),
          args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf],
          logFile,
          // The pid file appears once *this* master has bound its port; then any HTTP answer
          // on the port (a 502 while no replica listens yet is still nginx answering).
          ready: allReady(pidFileWritten(join(dir, 'nginx.pid')), httpResponds({ url: `http://127.0.0.1:${port}/nginx-probe` }, [200, 401, 404, 502, 503])),
          readyTimeoutMs: 30_000,
          stopTimeoutMs: 10_000,
        });
      } catch (e) {
        const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
        if (attempt < PORT_ATTEMPTS && /Address already in use/.test(`${String(e)}${log}`)) continue;
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- error.log ---\n${log.slice(-3000)}`);
      }
      const master = (await readFile(join(dir, 'nginx.pid'), 'utf8')).trim();
      if (Number(master) !== proc.pid) {
        await proc.stop();
        throw new Error(`startNginx: nginx.pid holds ${master}, expected our child ${proc.pid}`);
      }
      // nginx rewrites its title, but the master's still holds the config path.
      await recordDaemons(dir, conf, [proc.pid]);
      let stopping: Promise<void> | undefined;
      return {
        host: `127.0.0.1:${port}`,
        url: `http://127.0.0.1:${port}`,
        pid: proc.pid,
        dir,
        errorLog: async () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''),
        accessLog: async () => parseAccessLog(await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')),
        stop() {
          stopping ??= (async () => {
            await proc.stop();
            if (await processRunning(proc.pid)) throw new Error(`nginx (pid ${proc.pid}) is still running after stop`);
            await forgetDaemons(dir);
            await rm(dir, { recursive: true, force: true, maxRetries: 3 });
          })();
          return stopping;
        },
      };
    }
  } catch (e) {
    await forgetDaemons(dir);
    await tmp.remove();
    throw e;
  }
}
