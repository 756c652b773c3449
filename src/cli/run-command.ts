/**
 * How the command-line tools (scripts/gc, scripts/warm) begin and end alike: --help and
 * --version, and the exit status with a one-line message on stderr (2 for a bad command line,
 * the tool's own status for errors it knows, 1 otherwise).
 */
import { ConfigError } from '../config/load.js';
import { packageVersion, UsageError } from './args.js';

export const HELP_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

/** Prints the usage (--help) or the version (--version); true when it did, and the tool is done. */
export function answeredHelp(values: { help?: boolean | undefined; version?: boolean | undefined }, program: string, usage: string): boolean {
  if (values.help) process.stdout.write(usage);
  else if (values.version) process.stdout.write(`keel ${program} ${packageVersion()}\n`);
  return values.help === true || values.version === true;
}

function describe(err: unknown): string {
  if (err instanceof ConfigError) return `configuration error: ${err.message}`;
  // fetch's "fetch failed" says nothing without its cause (ECONNREFUSED and the address).
  if (err instanceof Error && err.cause instanceof Error) return `${err.message}: ${err.cause.message}`;
  return (err as Error).stack ?? String(err);
}

/** Runs `main` and exits with its status; `known` gives the status of errors the tool expects (their message only). */
export function runCommand(program: string, main: () => Promise<number>, known: (err: unknown) => number | undefined = () => undefined): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`keel ${program}: ${err.message}\nTry 'scripts/${program} --help'.\n`);
        process.exit(2);
      }
      const status = known(err);
      process.stderr.write(`keel ${program}: ${status === undefined ? describe(err) : (err as Error).message}\n`);
      process.exit(status ?? 1);
    },
  );
}
