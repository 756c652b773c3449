/**
 * `scripts/gc` (or `npm run gc -- ...`): one garbage-collection run, then exit, for cron.
 * The options are in USAGE (`--help`). Exit status 0 on success, 1 on failure (message on
 * stderr), 2 on bad arguments, 75 (EX_TEMPFAIL) when another run holds the lock.
 */
import cliProgress from 'cli-progress';
import { parseCommandLine, UsageError } from '../cli/args.js';
import { answeredHelp, HELP_OPTIONS, runCommand } from '../cli/run-command.js';
import { readConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/units.js';
import { createLogger } from '../log.js';
import { systemClock } from '../primitives/clock.js';
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

const USAGE = `Usage: scripts/gc [--config <file>] [--store registry|proxy|all] [--dry-run] [--delete-untagged] [--grace <duration>] [--verbose|--list] [--json]

One garbage-collection run of Keel's stores, then exit (for cron or a systemd timer). Safe
while the server runs: nothing younger than gc.grace is deleted.

Options:
  -c, --config <file>           the server's configuration file (also KEEL_CONFIG; default
                                ./configuration.toml, embedded defaults when it is missing)
      --store registry|proxy|all  which store to collect (default: all)
      --dry-run                 report what would be deleted, delete nothing
      --delete-untagged         also delete manifests no tag reaches (off by default)
      --grace <duration>        this run's grace period instead of gc.grace (30m, 1h, 0s)
      --verbose, --list         list every item deleted (with --dry-run: that would be);
                                on a terminal also show the info log lines
      --json                    print a machine-readable summary on stdout (with --list,
                                the items too)
  -h, --help                    print this help and exit
  -V, --version                 print the version and exit

Exit status: 0 done, 1 failed (message on stderr), 2 bad arguments, 75 another run holds the lock.
`;

async function main(): Promise<number> {
  const values = parseCommandLine(process.argv.slice(2), {
    config: { type: 'string', short: 'c' },
    store: { type: 'string', default: 'all' },
    'dry-run': { type: 'boolean', default: false },
    'delete-untagged': { type: 'boolean', default: false },
    grace: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    ...HELP_OPTIONS,
  });
  if (answeredHelp(values, 'gc', USAGE)) return 0;
  if (!['registry', 'proxy', 'all'].includes(values.store)) {
    throw new UsageError(`--store must be registry, proxy or all, not "${values.store}"`);
  }
  const grace = values.grace === undefined ? undefined : parseDuration(values.grace);
  if (grace === undefined && values.grace !== undefined) {
    throw new UsageError(`--grace must be a duration such as 30m, 1h30m or 0s, not "${values.grace}"`);
  }
  const list = values.verbose || values.list;
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const loaded = readConfig({ file: explicit ?? 'configuration.toml', optional: explicit === undefined });
  const { config } = loaded;
  // Log lines go to stderr; on a terminal the summary says it all, so they are quieter there.
  const logger = createLogger(logConfig(config.log, process.stdout.isTTY === true && !values.json && !list), 2);
  for (const warning of loaded.warnings) logger.warn(warning);
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

runCommand('gc', main, (err) => (err instanceof GcLockedError ? 75 : undefined));
