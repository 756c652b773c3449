/**
 * `scripts/gc` (or `npm run gc -- ...`): one garbage-collection run, then exit, for cron.
 *   --config <file>    same configuration as the server (default ./configuration.toml)
 *   --store registry|proxy|all   (default all)
 *   --dry-run          report what would be deleted, delete nothing
 *   --delete-untagged  also delete manifests no tag reaches (off by default)
 *   --grace DURATION   this run's grace period instead of gc.grace (e.g. 30m, 0s)
 *   --verbose, --list  list every item deleted (or, with --dry-run, that would be); on a
 *                      terminal also show the info log lines, otherwise warnings only
 *   --json             print a machine-readable summary on stdout
 * Exit status 0 on success, 1 on failure (message on stderr), 2 on bad arguments,
 * 75 (EX_TEMPFAIL) when another run holds the lock.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/units.js';
import { createLogger } from '../log.js';
import { systemClock } from '../registry/clock.js';
import { GcLockedError, runGc, type GcOptions } from './run-gc.js';
import { formatHuman } from './human-summary.js';
import type { Progress } from './summary.js';

function terminalProgress(): Progress {
  const bar = new cliProgress.SingleBar({ format: 'gc {phase} [{bar}] {value}/{total}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  return {
    start: (phase, total) => {
      if (total > 0) bar.start(total, 0, { phase });
    },
    tick: () => bar.increment(),
    stop: () => bar.stop(),
  };
}

/** Log levels from most to least verbose: a person at a terminal gets warnings unless they ask for more. */
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function logConfig(log: Config['log'], quiet: boolean): Config['log'] {
  return quiet && LEVELS.indexOf(log.level) < LEVELS.indexOf('warn') ? { ...log, level: 'warn' } : log;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        store: { type: 'string', default: 'all' },
        'dry-run': { type: 'boolean', default: false },
        'delete-untagged': { type: 'boolean', default: false },
        grace: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`keel gc: ${(err as Error).message}\n`);
    return 2;
  }
  if (!['registry', 'proxy', 'all'].includes(values.store)) {
    process.stderr.write(`keel gc: --store must be registry, proxy or all, not "${values.store}"\n`);
    return 2;
  }
  const grace = values.grace === undefined ? undefined : parseDuration(values.grace);
  if (grace === undefined && values.grace !== undefined) {
    process.stderr.write(`keel gc: --grace must be a duration such as 30m, 1h30m or 0s, not "${values.grace}"\n`);
    return 2;
  }
  const list = values.verbose || values.list;
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const config = loadConfig({ file: explicit ?? 'configuration.toml', optional: explicit === undefined });
  // Log lines go to stderr; on a terminal the summary says it all, so they are quieter there.
  const logger = createLogger(logConfig(config.log, process.stdout.isTTY === true && !values.json && !list), 2);
  const options: GcOptions = {
    stores: values.store as GcOptions['stores'],
    dryRun: values['dry-run'],
    deleteUntagged: values['delete-untagged'],
    ...(grace !== undefined ? { grace } : {}),
    list,
  };
  const summary = await runGc(config, options, { clock: systemClock, logger, ...(process.stderr.isTTY && !values.json ? { progress: terminalProgress() } : {}) });
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(formatHuman(summary));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof GcLockedError) {
      process.stderr.write(`keel gc: ${err.message}\n`);
      process.exit(75);
    }
    const message = err instanceof ConfigError ? `configuration error: ${err.message}` : ((err as Error).stack ?? String(err));
    process.stderr.write(`keel gc: ${message}\n`);
    process.exit(1);
  },
);
