/**
 * `scripts/gc` (or `npm run gc -- ...`): one garbage-collection run, then exit, for cron.
 * The options are in USAGE (`--help`). Exit status 0 on success, 1 on failure (message on
 * stderr), 2 on bad arguments, 75 (EX_TEMPFAIL) when another run holds the lock.
 */
import cliProgress from 'cli-progress';
import { packageVersion, parseCommandLine, UsageError } from '../cli/args.js';
import { ConfigError, readConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { systemClock } from '../registry/clock.js';
import { GcLockedError, runGc, type GcOptions } from './run-gc.js';
import type { GcSummary, Progress } from './summary.js';

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

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function printHuman(summary: GcSummary): void {
  const verb = summary.dryRun ? 'would free' : 'freed';
  for (const s of summary.stores) {
    process.stdout.write(
      `${s.store}: ${verb} ${formatBytes(s.bytes)} — ${s.blobs} blobs, ${s.manifests} manifests, ${s.tags} tags, ${s.links} repository links, ${s.uploads} upload sessions, ${s.orphans} orphaned files\n`,
    );
  }
  process.stdout.write(`${summary.dryRun ? 'dry run, nothing deleted; ' : ''}took ${summary.durationMs} ms\n`);
}

const USAGE = `Usage: scripts/gc [--config <file>] [--store registry|proxy|all] [--dry-run] [--delete-untagged] [--json]

One garbage-collection run of Keel's stores, then exit (for cron or a systemd timer). Safe
while the server runs: nothing younger than gc.grace is deleted.

Options:
  -c, --config <file>           the server's configuration file (also KEEL_CONFIG; default
                                ./configuration.toml, embedded defaults when it is missing)
      --store registry|proxy|all  which store to collect (default: all)
      --dry-run                 report what would be deleted, delete nothing
      --delete-untagged         also delete manifests no tag reaches (off by default)
      --json                    print a machine-readable summary on stdout
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
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`keel gc ${packageVersion()}\n`);
    return 0;
  }
  if (!['registry', 'proxy', 'all'].includes(values.store)) {
    throw new UsageError(`--store must be registry, proxy or all, not "${values.store}"`);
  }
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const loaded = readConfig({ file: explicit ?? 'configuration.toml', optional: explicit === undefined });
  const { config } = loaded;
  const logger = createLogger(config.log, 2);
  for (const warning of loaded.warnings) logger.warn(warning);
  const options: GcOptions = { stores: values.store as GcOptions['stores'], dryRun: values['dry-run'], deleteUntagged: values['delete-untagged'] };
  const summary = await runGc(config, options, { clock: systemClock, logger, ...(process.stderr.isTTY && !values.json ? { progress: terminalProgress() } : {}) });
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else printHuman(summary);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`keel gc: ${err.message}\nTry 'scripts/gc --help'.\n`);
      process.exit(2);
    }
    if (err instanceof GcLockedError) {
      process.stderr.write(`keel gc: ${err.message}\n`);
      process.exit(75);
    }
    const message = err instanceof ConfigError ? `configuration error: ${err.message}` : ((err as Error).stack ?? String(err));
    process.stderr.write(`keel gc: ${message}\n`);
    process.exit(1);
  },
);
