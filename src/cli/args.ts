/**
 * What the executables (the server, scripts/keel; the GC, scripts/gc; scripts/warm) share on their
 * command line: parsing that fails with a one-line usage error instead of a TypeError, and the
 * version of the package they were built from.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode; a wrong command line is a UsageError with node's first sentence ("Option '-c, --config <value>' argument missing"). */
export function parseCommandLine<T extends Options>(args: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'] {
  return usageErrors(() => parseArgs({ args, options, strict: true, allowPositionals: false }).values);
}

/** The same, for a command that also takes operands (scripts/warm's image references). */
export function parseCommandLineAndOperands<T extends Options>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>> {
  return usageErrors(() => parseArgs({ args, options, strict: true, allowPositionals: true }));
}

function usageErrors<R>(parse: () => R): R {
  try {
    return parse();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError((err as Error).message.split('. ')[0] as string);
    }
    throw err;
  }
}

/** The version in package.json, two levels up from this file in src/ and in dist/ alike. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
