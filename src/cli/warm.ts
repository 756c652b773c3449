/**
 * `scripts/warm`: fills the proxy cache with images before anyone pulls them. It asks the
 * running server (POST /api/v1/warm), so a warm download and a live pull of the same blob are
 * one download, and prints what the server reports as it goes: a progress bar on a terminal,
 * a JSON summary otherwise (or with --json). Options in USAGE (`--help`). Exit status 0 when
 * every image is warm, 1 when one failed or the server refused, 2 on bad arguments.
 */
import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { parseCommandLineAndOperands, UsageError } from './args.js';
import { answeredHelp, HELP_OPTIONS, runCommand } from './run-command.js';
import { count, formatBytes } from './format.js';
import { readConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { WarmEvent, WarmSummary } from '../proxy/warm.js';

const USAGE = `Usage: scripts/warm [--config <file> | --url <url>] [--user <name>] [--platform <os/arch>,...]
                    [--file <file>] [--dry-run] [--pin|--unpin] [--json] <reference>...

Fetches images into Keel's pull-through cache, through the running server: manifests, every
platform of an index (or those --platform names), configs and layers. A reference is
proxy/<upstream>/<repository>:<tag> or proxy/<upstream>/<repository>@<digest>.

Options:
  -c, --config <file>       the server's configuration file, for its address (also
                            KEEL_CONFIG; default ./configuration.toml)
      --url <url>           the server's URL instead (e.g. https://keel.example.com)
  -u, --user <name>         sign in as this user (auth on); the password is read from
                            KEEL_PASSWORD, never from the command line
      --platform <list>     only these children of an index: os/arch[/variant], comma-separated
  -f, --file <file>         more references, one per line (# starts a comment)
      --dry-run             say what would be fetched and its size, fetch no blob
      --pin                 pin each image once warm: cache retention (scripts/gc) never
                            evicts it, whatever its age or the cache's size cap
      --unpin               only remove the pins of the references named (fetches nothing)
      --json                print the JSON summary (the default when stdout is not a terminal)
  -h, --help                print this help and exit
  -V, --version             print the version and exit

Exit status: 0 every image warm, 1 an image failed or the server refused, 2 bad arguments.
`;

/** A server listening on every address is asked on loopback. */
function serverUrl(config: Config): string {
  const { host, port } = config.listen;
  const local = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `${config.tls.cert === '' ? 'http' : 'https'}://${local}:${port}`;
}

function referencesFrom(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

interface Progress {
  image(e: Extract<WarmEvent, { event: 'image' }>): void;
  blob(e: Extract<WarmEvent, { event: 'blob' }>): void;
  stop(): void;
}

/** Bytes and layers done of what the manifests read so far name, the fetch rate and an ETA (stderr). */
function terminalProgress(): Progress {
  const bar = new cliProgress.SingleBar(
    { format: 'warm [{bar}] {percentage}% {done} of {all} | {layers} blobs | {rate}/s | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let total = 0;
  let done = 0;
  let fetched = 0;
  let layers = 0;
  let running = false;
  const payload = (): object => ({ done: formatBytes(done), all: formatBytes(total), layers, rate: formatBytes(fetched / Math.max(0.001, (Date.now() - started) / 1000)) });
  return {
    image: (e) => {
      total += e.bytes;
      if (!running) bar.start(Math.max(total, 1), done, payload());
      running = true;
      bar.setTotal(Math.max(total, 1));
      bar.update(done, payload());
    },
    blob: (e) => {
      done += e.size;
      layers++;
      if (e.state === 'fetched') fetched += e.size;
      bar.update(done, payload());
    },
    stop: () => {
      if (running) bar.stop();
    },
  };
}

function formatSummary(s: WarmSummary): string {
  const lines = s.images.map((i) => {
    if (i.error) return `${i.reference}: FAILED ${i.error.code}: ${i.error.message}\n`;
    if (i.pinned === false) return `${i.reference}: unpinned\n`;
    const parts = s.dry_run
      ? [`would fetch ${count(i.missing.blobs, 'blob')} (${formatBytes(i.missing.bytes)})`, `cached ${count(i.cached.blobs, 'blob')} (${formatBytes(i.cached.bytes)})`]
      : [`fetched ${count(i.fetched.blobs, 'blob')} (${formatBytes(i.fetched.bytes)})`, `already cached ${count(i.cached.blobs, 'blob')} (${formatBytes(i.cached.bytes)})`];
    return `${i.reference} ${i.digest ?? ''}: ${count(i.manifests, 'manifest')}, ${count(i.blobs, 'blob')}, ${formatBytes(i.bytes)}; ${parts.join(', ')}${i.pinned ? '; pinned' : ''}\n`;
  });
  return `${lines.join('')}${s.dry_run ? 'dry run: nothing fetched but manifests; ' : ''}${count(s.images.length - s.failed, 'image')} warm, ${s.failed} failed\n`;
}

/** The server's OCI error body, as one line. */
async function refusal(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = body.errors?.[0];
    if (e) return `${res.status} ${e.code ?? ''}: ${e.message ?? ''}`;
  } catch {
    // not JSON: the text itself
  }
  return `${res.status}: ${text.slice(0, 300)}`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLineAndOperands(process.argv.slice(2), {
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    user: { type: 'string', short: 'u' },
    platform: { type: 'string', multiple: true },
    file: { type: 'string', short: 'f' },
    'dry-run': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    unpin: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    ...HELP_OPTIONS,
  });
  if (answeredHelp(values, 'warm', USAGE)) return 0;
  if (values.pin && values.unpin) throw new UsageError('--pin and --unpin exclude each other');
  const references = [...positionals, ...(values.file ? referencesFrom(values.file) : [])];
  if (references.length === 0) throw new UsageError('name at least one image reference (proxy/<upstream>/<repository>:<tag>) or --file');
  const platforms = (values.platform ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p !== '');
  let base = values.url;
  if (base === undefined) {
    const explicit = values.config ?? process.env.KEEL_CONFIG;
    base = serverUrl(readConfig({ file: explicit ?? 'configuration.toml', optional: explicit === undefined }).config);
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (values.user !== undefined) {
    const password = process.env.KEEL_PASSWORD;
    if (password === undefined) throw new UsageError('--user needs the password in KEEL_PASSWORD');
    headers.Authorization = `Basic ${Buffer.from(`${values.user}:${password}`).toString('base64')}`;
  }
  const res = await fetch(new URL('/api/v1/warm', base), { method: 'POST', headers, body: JSON.stringify({ references, platforms, dry_run: values['dry-run'], pin: values.pin, unpin: values.unpin }) });
  if (res.status !== 200 || res.body === null) {
    process.stderr.write(`keel warm: the server refused: ${await refusal(res)}\n`);
    return 1;
  }
  const json = values.json || process.stdout.isTTY !== true;
  const progress = process.stderr.isTTY === true && !json ? terminalProgress() : undefined;
  let summary: WarmSummary | undefined;
  let rest = '';
  const decoder = new TextDecoder();
  const take = (line: string): void => {
    if (line.trim() === '') return;
    const e = JSON.parse(line) as WarmEvent | ({ event: 'summary' } & WarmSummary);
    if (e.event === 'summary') {
      const { event: _event, ...s } = e;
      summary = s;
    } else if (e.event === 'image') progress?.image(e);
    else if (e.event === 'blob') progress?.blob(e);
  };
  for await (const chunk of res.body) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    lines.forEach(take);
  }
  take(rest);
  progress?.stop();
  if (summary === undefined) {
    process.stderr.write('keel warm: the server ended the answer before its summary (see its log)\n');
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  return summary.failed === 0 ? 0 : 1;
}

runCommand('warm', main);
