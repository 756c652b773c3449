/**
 * Starts Keel: checks the storage paths (config/preflight.ts), opens the index, builds the
 * services, listens (HTTP or HTTPS, plus an optional metrics port), and on close drains: stop
 * accepting, let requests in flight finish up to http.shutdown_timeout, cut the rest, close the
 * index. Used by main.ts and by tests. What the operator can fix (storage, a port in use, a TLS
 * file) fails as a one-line StartupError.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import express from 'express';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import type { AuthService } from './auth/auth-service.js';
import { BlobStreamGate } from './http/blob-stream-gate.js';
import { messageClasses } from './http/message-classes.js';
import { StartupError } from './config/errors.js';
import { describeIndex } from './config/index-location.js';
import { checkStorage } from './config/preflight.js';
import type { Config } from './config/schema.js';
import { metricsRouter } from './http/routes/metrics.js';
import type { KeelMetrics } from './metrics/keel-metrics.js';
import type { Clock } from './primitives/clock.js';
import type { SyncScheduler } from './proxy/sync-scheduler.js';
import { buildServices, type Services } from './services.js';
import type { PullRecorder } from './registry/pull-recorder.js';
import { DiskFullWatch } from './storage/disk-full-watch.js';
import { S3SettingsError, checkS3Locations, type S3LocationToCheck } from './storage/backends.js';
import type { IndexSet } from './storage/index-set.js';
import { IndexOpenError, openIndexes } from './storage/indexes.js';
import type { FreeSpace } from './storage/backends.js';

export interface ServerDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** How free space is measured (statfs unless a test says otherwise). */
  freeSpace?: FreeSpace;
}

export interface RunningServer {
  server: Server;
  /** Host and port actually bound (port 0 in the config picks a free one). */
  address: AddressInfo;
  /** The separate metrics listener's address, when metrics.listen is set. */
  metricsAddress: AddressInfo | undefined;
  /** The authentication in force (undefined when off), for reloading users and rules. */
  auth: AuthService | undefined;
  /** The scheduled syncs (`[[proxy.sync]]`): their runs so far and a way to wait for the next. */
  sync: SyncScheduler;
  /** Last pull times (coalesced writes beside the pulls): settled() waits for those started so far. */
  pulls: PullRecorder;
  close(): Promise<void>;
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use; stop the other process or choose another port',
  EACCES: 'permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE, choose a port from 1024',
  EADDRNOTAVAIL: 'this machine has no such address; use one of its addresses, or 0.0.0.0',
  ENOTFOUND: 'the host name does not resolve; use an address',
  EAI_AGAIN: 'the host name does not resolve; use an address',
};

/** Listens, or fails with one line naming the setting (`listen` or `metrics.listen`), the address and what to do. */
function listen(server: Server, host: string, port: number, setting: 'listen' | 'metrics.listen'): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const code = err.code ?? '';
      const what = LISTEN_ERRORS[code] ?? err.message;
      const variable = setting === 'listen' ? 'KEEL_LISTEN' : 'KEEL_METRICS_LISTEN';
      reject(new StartupError(`${setting} "${host.includes(':') ? `[${host}]` : host}:${port}": cannot listen (${code || 'error'}): ${what} (set ${setting} or ${variable})`, { cause: err }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

function readTlsFile(setting: 'tls.cert' | 'tls.key', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StartupError(`${setting} "${path}": cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path and that the user Keel runs as may read it`, { cause: err });
  }
}

/** The certificate and key, checked here so that a bad file is one line naming the setting, not an OpenSSL stack trace. */
function tlsCredentials(tls: Config['tls']): { cert: Buffer; key: Buffer } {
  const credentials = { cert: readTlsFile('tls.cert', tls.cert), key: readTlsFile('tls.key', tls.key) };
  try {
    createSecureContext(credentials);
  } catch (err) {
    throw new StartupError(`tls.cert "${tls.cert}", tls.key "${tls.key}": not a PEM certificate chain and its private key (${(err as Error).message}); check both files`, { cause: err });
  }
  return credentials;
}

/** The index `database` names, opened (and migrated); a failure is one line naming the setting. */
async function openIndex(config: Config, logger: Logger, clock: Clock, onWriteWait: () => void): Promise<IndexSet> {
  try {
    return await openIndexes(config.index, {
      clock,
      onWriteWait,
      poolSize: config.database_pool_size,
      onIdleError: (err) => logger.warn({ err: err.message }, 'a pooled connection to the index database failed while idle; it is replaced'),
    });
  } catch (err) {
    if (err instanceof IndexOpenError) throw new StartupError(`database "${describeIndex(config.index)}": ${err.message}`, { cause: err });
    throw err;
  }
}

/** Stops accepting, lets requests in flight finish until `deadlineMs`, then cuts what is left. */
function drain(server: Server, deadlineMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
    server.once('close', () => {
      clearInterval(idle);
      clearTimeout(deadline);
    });
  });
}

/** The s3:// locations must be usable before anything is served: one line naming the key otherwise. */
async function checkS3Storage(config: Config): Promise<void> {
  const locations: S3LocationToCheck[] = [];
  for (const [key, location] of [['registry_storage', config.storage.registry], ['proxy_storage', config.storage.proxy]] as const) {
    if (location.kind === 's3') locations.push({ key, bucket: location.bucket, prefix: location.prefix });
  }
  try {
    await checkS3Locations(config.s3, locations);
  } catch (err) {
    if (err instanceof S3SettingsError) throw new StartupError(err.message, { cause: err });
    throw err;
  }
}

/** Closes both backends (workers, connections), whatever either says. */
async function closeBackends(services: Services): Promise<void> {
  await Promise.allSettled([services.backends.registry.close(), services.backends.proxy.close()]);
}

export async function startServer({ config, logger, clock, freeSpace }: ServerDeps): Promise<RunningServer> {
  // The filesystems a full disk can stop writes on: the local stores, the temporary root, the index's.
  const roots: Record<string, string> = { temporary_registry_storage: config.temporary_registry_storage };
  if (config.storage.registry.kind === 'filesystem') roots.registry_storage = config.storage.registry.path;
  if (config.storage.proxy.kind === 'filesystem') roots.proxy_storage = config.storage.proxy.path;
  checkStorage(config);
  await checkS3Storage(config);
  // The index opens before the metrics exist (PostgreSQL connects and migrates): lock waits reach them once built.
  let metricsOf: KeelMetrics | undefined;
  const indexes = await openIndex(config, logger, clock, () => metricsOf?.indexWriteWaited());
  let services: Services;
  try {
    services = await buildServices(
      config,
      logger,
      clock,
      (metrics) => {
        metricsOf = metrics;
        return indexes;
      },
      freeSpace,
    );
  } catch (err) {
    await indexes.close();
    throw err;
  }
  const { metrics } = services;
  const blobStreams = new BlobStreamGate({ streams: config.limits.blob_streams, queued: config.limits.blob_stream_queue, waitMs: config.limits.blob_stream_wait }, metrics);
  metrics?.watchBlobStreams(blobStreams);
  const { express: app, listener } = createApp({
    registry: services.registry,
    proxy: services.proxy,
    proxyBrowse: services.proxyBrowse,
    mirror: services.mirror,
    warmer: services.warmer,
    status: services.status,
    upstreams: services.upstreams,
    blobStreams,
    logger,
    peers: services.peer.downloads,
    ops: {
      stats: services.stats,
      backends: services.backends,
      diskFull: new DiskFullWatch(config.index.kind === 'sqlite' ? { ...roots, database: dirname(config.index.path) } : roots),
      // Problems name the database without its password, and each store by its setting and location.
      ready: { indexName: `database "${describeIndex(config.index)}"`, storeNames: { registry: `registry_storage "${config.registry_storage}"`, proxy: `proxy_storage "${config.proxy_storage}"` } },
      ...(metrics ? { metrics } : {}),
      metricsHere: config.metrics.listen === '',
      metricsUsers: config.metrics.users,
    },
    ...(services.auth ? { auth: services.auth } : {}),
    ...(config.ui.enabled ? { ui: { pathPrefix: config.ui.path_prefix } } : {}),
  });

  // Slow headers are only noticed when connections are checked: check often enough for the timeout to mean something.
  const serverOptions = {
    maxHeaderSize: config.http.max_header_size,
    connectionsCheckingInterval: Math.max(250, Math.min(30_000, config.http.headers_timeout / 4)),
    // Requests and responses are born with the app's prototypes (message-classes.ts).
    ...messageClasses(app),
  };
  // Nothing is served when start-up fails from here: give back the worker and the index, so that a caller that goes on (a test) is not left with them.
  const release = async (): Promise<void> => {
    await closeBackends(services);
    await services.indexes.close();
  };
  let server: Server;
  try {
    server = config.tls.cert === '' ? createHttpServer(serverOptions, listener) : createHttpsServer({ ...serverOptions, ...tlsCredentials(config.tls) }, listener);
  } catch (err) {
    await release();
    throw err;
  }
  // Large blobs take long: no limit on a whole request, but on idle sockets and slow headers.
  server.requestTimeout = 0;
  server.headersTimeout = config.http.headers_timeout;
  server.timeout = config.http.idle_timeout;
  server.keepAliveTimeout = 65_000;
  const metricsServer = metrics && config.metrics.listen !== '' ? createHttpServer(express().use(metricsRouter(metrics))) : undefined;
  let address: AddressInfo;
  let metricsAddress: AddressInfo | undefined;
  try {
    address = await listen(server, config.listen.host, config.listen.port, 'listen');
    if (metricsServer && config.metrics.listen !== '') {
      metricsAddress = await listen(metricsServer, config.metrics.listen.host, config.metrics.listen.port, 'metrics.listen');
    }
  } catch (err) {
    if (server.listening) server.close();
    await release();
    throw err;
  }
  services.peer.identity.listening(address, config.tls.cert !== '');
  // Syncs start once this replica can serve its downloads to the others (its lease names its address).
  services.sync.start();
  logger.info(
    { address: address.address, port: address.port, peer_url: services.peer.identity.url(), tls: config.tls.cert !== '', auth: services.auth !== undefined, metrics_port: metricsAddress?.port, storage: config.registry_storage, database: describeIndex(config.index), node: process.version },
    'keel listening',
  );

  let closed: Promise<void> | undefined;
  return {
    server,
    address,
    metricsAddress,
    auth: services.auth?.service,
    sync: services.sync,
    pulls: services.registry.pulls,
    close: () => {
      closed ??= Promise.all([services.sync.close(), drain(server, config.http.shutdown_timeout), metricsServer ? drain(metricsServer, 1000) : undefined]).then(async () => {
        await closeBackends(services);
        await services.auth?.close();
        await services.indexes.close();
      });
      return closed;
    },
  };
}
