/**
 * Starts Keel: opens the index, builds the services, listens (HTTP or HTTPS, plus an optional
 * metrics port), and on close drains: stop accepting, let requests in flight finish up to
 * http.shutdown_timeout, cut the rest, close the index. Used by main.ts and by tests.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import express from 'express';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import type { AuthService } from './auth/auth-service.js';
import { messageClasses } from './http/message-classes.js';
import type { Config } from './config/schema.js';
import { metricsRouter } from './http/routes/metrics.js';
import type { Clock } from './registry/clock.js';
import { buildServices } from './services.js';
import { DiskFullWatch } from './storage/disk-full-watch.js';
import { openDatabase } from './storage/sqlite-index.js';
import type { FreeSpace } from './storage/free-space.js';

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
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
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

export async function startServer({ config, logger, clock, freeSpace }: ServerDeps): Promise<RunningServer> {
  const roots = { registry_storage: config.registry_storage, temporary_registry_storage: config.temporary_registry_storage, proxy_storage: config.proxy_storage };
  for (const dir of Object.values(roots)) await mkdir(dir, { recursive: true });
  const db = openDatabase(config.database);
  const services = buildServices(config, logger, clock, db, freeSpace);
  const { metrics } = services;
  const app = createApp({
    registry: services.registry,
    proxy: services.proxy,
    mirror: services.mirror,
    logger,
    ops: {
      stats: services.stats,
      roots,
      diskFull: new DiskFullWatch({ ...roots, database: dirname(config.database) }),
      ...(metrics ? { metrics } : {}),
      metricsHere: config.metrics.listen === '',
      metricsUsers: config.metrics.users,
    },
    ...(services.auth ? { auth: services.auth } : {}),
  });

  // Slow headers are only noticed when connections are checked: check often enough for the timeout to mean something.
  const serverOptions = {
    maxHeaderSize: config.http.max_header_size,
    connectionsCheckingInterval: Math.max(250, Math.min(30_000, config.http.headers_timeout / 4)),
    // Requests and responses are born with the app's prototypes (message-classes.ts).
    ...messageClasses(app),
  };
  const server: Server =
    config.tls.cert === ''
      ? createHttpServer(serverOptions, app)
      : createHttpsServer({ ...serverOptions, cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, app);
  // Large blobs take long: no limit on a whole request, but on idle sockets and slow headers.
  server.requestTimeout = 0;
  server.headersTimeout = config.http.headers_timeout;
  server.timeout = config.http.idle_timeout;
  server.keepAliveTimeout = 65_000;
  const address = await listen(server, config.listen.host, config.listen.port);

  let metricsServer: Server | undefined;
  let metricsAddress: AddressInfo | undefined;
  if (metrics && config.metrics.listen !== '') {
    metricsServer = createHttpServer(express().use(metricsRouter(metrics)));
    metricsAddress = await listen(metricsServer, config.metrics.listen.host, config.metrics.listen.port);
  }
  logger.info(
    { address: address.address, port: address.port, tls: config.tls.cert !== '', auth: services.auth !== undefined, metrics_port: metricsAddress?.port, storage: config.registry_storage },
    'keel listening',
  );

  let closed: Promise<void> | undefined;
  return {
    server,
    address,
    metricsAddress,
    auth: services.auth?.service,
    close: () => {
      closed ??= Promise.all([drain(server, config.http.shutdown_timeout), metricsServer ? drain(metricsServer, 1000) : undefined]).then(async () => {
        await services.hasher.close();
        await services.auth?.close();
        services.index.close();
      });
      return closed;
    },
  };
}
