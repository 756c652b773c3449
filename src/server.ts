/**
 * Wires configuration, stores and services into a listening HTTP server. Used by main.ts
 * and by tests (which pass their own config, clock and logger).
 */
import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { createAuth } from './auth/create-auth.js';
import type { Config } from './config/schema.js';
import type { Clock } from './registry/clock.js';
import { BlobFetcher } from './proxy/blob-fetcher.js';
import { MemberHealth } from './proxy/member-health.js';
import { Mirror } from './proxy/mirror.js';
import { PullThrough } from './proxy/pull-through.js';
import { SourceRequester } from './proxy/source-requester.js';
import { Sources } from './proxy/sources.js';
import { TokenCache } from './proxy/token-cache.js';
import { UpstreamClient } from './proxy/upstream-client.js';
import { Upstreams } from './proxy/upstreams.js';
import { createRegistry } from './registry/registry.js';
import { CachedContentStore } from './storage/cached-content-store.js';
import { FsContentStore } from './storage/content-store.js';
import { openDatabase, SqliteIndex } from './storage/sqlite-index.js';
import { SqliteProxyIndex } from './storage/sqlite-proxy-index.js';
import { UploadFiles } from './storage/upload-files.js';

export interface ServerDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
}

export interface RunningServer {
  server: Server;
  /** Host and port actually bound (port 0 in the config picks a free one). */
  address: AddressInfo;
  close(): Promise<void>;
}

function createPullThrough({ config, logger, clock }: ServerDeps, index: SqliteProxyIndex, sources: Sources): PullThrough {
  const content = new CachedContentStore(new FsContentStore(config.proxy_storage, config.temporary_registry_storage), config.limits.manifest_cache_size);
  const requester = new SourceRequester(new UpstreamClient(new TokenCache(clock), logger), new MemberHealth(clock, config.proxy.backoff), logger);
  return new PullThrough({
    sources,
    requester,
    fetcher: new BlobFetcher(requester, content, index, clock, logger),
    index,
    content,
    clock,
    logger,
    maxManifestSize: config.limits.max_manifest_size,
  });
}

export async function startServer({ config, logger, clock }: ServerDeps): Promise<RunningServer> {
  for (const dir of [config.registry_storage, config.temporary_registry_storage, config.proxy_storage]) {
    await mkdir(dir, { recursive: true });
  }
  const db = openDatabase(config.database);
  const index = new SqliteIndex(db);
  const registry = createRegistry({
    index,
    content: new CachedContentStore(new FsContentStore(config.registry_storage, config.temporary_registry_storage), config.limits.manifest_cache_size),
    uploadFiles: new UploadFiles(config.temporary_registry_storage),
    clock,
    limits: { maxManifestSize: config.limits.max_manifest_size, maxListPage: config.limits.max_list_page, maxBlobSize: config.limits.max_blob_size },
  });
  const sources = new Sources(config.proxy, new Upstreams(config.proxy));
  const proxy = createPullThrough({ config, logger, clock }, new SqliteProxyIndex(db), sources);
  const mirror = new Mirror(config.mirror, sources);
  const auth = createAuth(config, clock, logger);
  const app = createApp({ registry, proxy, mirror, logger, ...(auth ? { auth } : {}) });
  // Slow headers are only noticed when connections are checked: check often enough for the timeout to mean something.
  const limits = { maxHeaderSize: config.http.max_header_size, connectionsCheckingInterval: Math.max(250, Math.min(30_000, config.http.headers_timeout / 4)) };
  const server: Server =
    config.tls.cert === ''
      ? createHttpServer(limits, app)
      : createHttpsServer({ ...limits, cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, app);
  // Large blobs take long: no limit on a whole request, but on idle sockets and slow headers.
  server.requestTimeout = 0;
  server.headersTimeout = config.http.headers_timeout;
  server.timeout = config.http.idle_timeout;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  logger.info({ address: address.address, port: address.port, tls: config.tls.cert !== '', auth: auth !== undefined, storage: config.registry_storage }, 'keel listening');

  let closed: Promise<void> | undefined;
  return {
    server,
    address,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        // Stop accepting; let requests in flight finish up to the deadline, then cut the rest.
        server.close(() => resolve());
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        const deadline = setTimeout(() => server.closeAllConnections(), config.http.shutdown_timeout);
        server.once('close', () => {
          clearInterval(idle);
          clearTimeout(deadline);
        });
      }).then(() => index.close());
      return closed;
    },
  };
}
