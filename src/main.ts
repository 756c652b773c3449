/**
 * Start Keel: `node dist/main.js [--config <file>]` (or KEEL_CONFIG). Reads the
 * configuration once, starts the server, and closes it cleanly on SIGTERM/SIGINT. SIGHUP
 * reloads users and access rules (auth/auth-reload.ts).
 */
import { parseArgs } from 'node:util';
import { reloadAuth } from './auth/auth-reload.js';
import { ConfigError, loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { systemClock } from './registry/clock.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, strict: true });
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const loadOptions = { file: explicit ?? 'configuration.toml', optional: explicit === undefined };
  const config = loadConfig(loadOptions);
  const logger = createLogger(config.log);
  // SIGHUP's default is to end the process: handled from here on, even while still starting.
  let onHangup = (): void => void logger.warn({ signal: 'SIGHUP' }, 'still starting: nothing reloaded');
  process.on('SIGHUP', () => onHangup());
  const running = await startServer({ config, logger, clock: systemClock });
  onHangup = () => void reloadAuth({ started: config, load: () => loadConfig(loadOptions), auth: running.auth, logger });

  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`keel: configuration error: ${err.message}\n`);
  } else {
    process.stderr.write(`keel: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
