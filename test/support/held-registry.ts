/**
 * A registry on loopback (a fault server) that serves the manifests and blobs it is given and,
 * while `hold` is on, answers each blob GET's headers at once but keeps its body until the test
 * releases that repository: which downloads are running at each step is known, not timed.
 * startKeelBehind starts a Keel in front of it whose log lines the test can wait for.
 */
import type { ServerResponse } from 'node:http';
import { startFaultServer, type RecordedRequest } from './fault-upstream.js';
import { OCI_MANIFEST, sha256 } from './oci-client.js';
import { startKeel, type KeelProcess } from './keel-server.js';
import { watchedLogger, type LogLine, type Watch } from './watch.js';

export interface HeldRegistry {
  url: string;
  /** Every request that reached it, in order. */
  requests: RecordedRequest[];
  /** Whether blob bodies are held (on at start); off, they are sent at once. */
  hold: boolean;
  /** Blob GETs of `repo` that reached it. */
  gets(repo: string): number;
  /** Sends the bodies of the held blob GETs of `repo`. */
  release(repo: string): void;
  stop(): Promise<void>;
}

/** `manifests` by repository (any other is 404), `blobs` served in every repository by their digest; `watch` hears each blob GET. */
export async function startHeldRegistry(manifests: Record<string, Buffer>, blobs: readonly Buffer[], watch: Watch): Promise<HeldRegistry> {
  const byDigest = new Map(blobs.map((b) => [sha256(b), b]));
  const gets = new Map<string, number>();
  const held = new Map<string, Array<{ res: ServerResponse; body: Buffer }>>();
  let hold = true;
  const server = await startFaultServer((req, res) => {
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(req.url === '/v2/' ? 200 : 404).end();
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const manifest = manifests[repo];
      if (!manifest) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': String(manifest.length), 'Docker-Content-Digest': sha256(manifest) });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    const body = byDigest.get(ref);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
    if (req.method === 'HEAD') return void res.end();
    gets.set(repo, (gets.get(repo) ?? 0) + 1);
    if (hold) {
      res.flushHeaders();
      held.set(repo, [...(held.get(repo) ?? []), { res, body }]);
    } else res.end(body);
    watch.changed();
  });
  return {
    url: server.url,
    requests: server.requests,
    get hold() {
      return hold;
    },
    set hold(on: boolean) {
      hold = on;
    },
    gets: (repo) => gets.get(repo) ?? 0,
    release: (repo) => {
      for (const { res, body } of held.get(repo)?.splice(0) ?? []) res.end(body);
    },
    stop: () => server.stop(),
  };
}

/** A Keel whose upstream `up` is `upstream`, logging at info into `logs` (each line a change for `watch`). */
export async function startKeelBehind(upstream: HeldRegistry, watch: Watch): Promise<{ keel: KeelProcess; logs: LogLine[] }> {
  const { logger, logs } = watchedLogger(watch);
  const keel = await startKeel({ toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\ntimeout = "60s"\n`, logger });
  return { keel, logs };
}
