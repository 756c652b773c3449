/**
 * Start Keel: `node dist/main.js [--config <file>]` (or KEEL_CONFIG). Reads the
 * configuration once, says which file it read, starts the server, and closes it cleanly on
 * SIGTERM/SIGINT. SIGHUP reloads users and access rules (auth/auth-reload.ts). What an
 * operator can fix (bad arguments, configuration, storage, port, htpasswd, TLS files) ends
 * start-up with one line on stderr and a non-zero status; only a bug prints a stack trace.
 */
import { reloadAuth } from './auth/auth-reload.js';
import { HtpasswdError } from './auth/htpasswd.js';
import { packageVersion, parseCommandLine, UsageError } from './cli/args.js';
import { ConfigError, StartupError } from './config/errors.js';
import { describeIndex } from './config/index-location.js';
import { loadConfig, readConfig } from './config/load.js';
import { createLogger } from './log.js';
import { systemClock } from './primitives/clock.js';
import { startServer } from './server.js';

const USAGE = `Usage: keel [--config <file>]

Starts the Keel container registry and pull-through cache.

Options:
  -c, --config <file>  the configuration file to read (also KEEL_CONFIG). Default:
                       ./configuration.toml, and the embedded defaults when it is missing;
                       a file named here must exist. Relative paths in it are resolved
                       against its directory.
  -h, --help           print this help and exit
  -V, --version        print the version and exit

Every setting can also be set from the environment: KEEL_ and the key in upper case,
nested keys joined by "_" (KEEL_LISTEN=127.0.0.1:5000, KEEL_LIMITS_MAX_BLOB_SIZE=10GiB);
proxy.aliases is KEEL_PROXY_ALIASES="docker.io=hub,quay.io=quay.io". Other KEEL_
variables are ignored with a warning. See README.md, "Configuration".
`;

async function main(): Promise<void> {
  const values = parseCommandLine(process.argv.slice(2), {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.version) {
    process.stdout.write(`keel ${packageVersion()}\n`);
    return;
  }
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const loadOptions = { file: explicit ?? 'configuration.toml', optional: explicit === undefined };
  const loaded = readConfig(loadOptions);
  const { config } = loaded;
  const logger = createLogger(config.log);
  // SIGHUP's default is to end the process: handled from here on, even while still starting.
  let onHangup = (): void => void logger.warn({ signal: 'SIGHUP' }, 'still starting: nothing reloaded');
  process.on('SIGHUP', () => onHangup());
  const where = { storage: config.registry_storage, database: describeIndex(config.index) };
  if (loaded.file) logger.info({ file: loaded.file, ...where }, 'configuration read');
  else logger.info({ looked_for: loaded.looked, ...where }, 'no configuration file, embedded defaults');
  for (const warning of loaded.warnings) logger.warn(warning);
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
  if (err instanceof UsageError) {
    process.stderr.write(`keel: ${err.message}\nTry 'keel --help'.\n`);
    process.exit(2);
  }
  if (err instanceof ConfigError) process.stderr.write(`keel: configuration error: ${err.message}\n`);
  else if (err instanceof StartupError || err instanceof HtpasswdError) process.stderr.write(`keel: cannot start: ${err.message}\n`);
  else process.stderr.write(`keel: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
