/**
 * A real Keel server for tests: listening on a free loopback port, with fresh storage in a
 * temporary directory, silent logs and an injectable clock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { systemClock, type Clock } from '../../src/primitives/clock.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { FreeSpace } from '../../src/storage/backends.js';

export interface KeelProcess {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as image references use it. */
  host: string;
  /** The temporary directory holding this server's storage. */
  root: string;
  config: Config;
  running: RunningServer;
  /** Stops the server; keeps the storage (for restart tests). */
  stop(): Promise<void>;
  /** Stops the server and removes its storage. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  /** TOML text merged over the defaults (storage paths default to the temp dir). */
  toml?: string;
  clock?: Clock;
  /** Reuse an existing storage directory (restart). */
  root?: string;
  /** Where logs go (silent by default). */
  logger?: Logger;
  /** How the server measures free space (statfs by default). */
  freeSpace?: FreeSpace;
}

export async function startKeel(options: StartOptions = {}): Promise<KeelProcess> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'keel-test-')));
  let config: Config;
  let running: RunningServer;
  try {
    config = parseConfig(options.toml ?? '', 'test configuration', root, {}, {
      listen: '127.0.0.1:0',
      log: { level: 'silent' },
    });
    running = await startServer({ config, logger: options.logger ?? pino({ level: 'silent' }), clock: options.clock ?? systemClock, ...(options.freeSpace ? { freeSpace: options.freeSpace } : {}) });
  } catch (err) {
    // A server that did not start leaves no folder of its own behind (a test's own root is the test's).
    if (options.root === undefined) await rm(root, { recursive: true, force: true });
    throw err;
  }
  const host = `127.0.0.1:${running.address.port}`;
  return {
    url: `http://${host}`,
    host,
    root,
    config,
    running,
    stop: () => running.close(),
    destroy: async () => {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
