/**
 * `node dist/healthcheck.js [--config <file>]`: exits 0 when the Keel server configured by
 * the same file and KEEL_* variables as `dist/main.js` answers `GET /health` with 200, and 1
 * otherwise. The container image's HEALTHCHECK runs it, so the probe follows `listen` and
 * `tls` instead of assuming port 5000 over plain HTTP.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseCommandLine } from './cli/args.js';
import { loadConfig } from './config/load.js';

/** A wildcard listen address is probed on the loopback address of the same family. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

async function probe(): Promise<boolean> {
  const values = parseCommandLine(process.argv.slice(2), { config: { type: 'string', short: 'c' } });
  const explicit = values.config ?? process.env.KEEL_CONFIG;
  const config = loadConfig({ file: explicit ?? 'configuration.toml', optional: explicit === undefined });
  const tls = config.tls.cert !== '';
  const request = tls ? httpsRequest : httpRequest;
  return new Promise<boolean>((resolve) => {
    const req = request(
      {
        host: probeHost(config.listen.host),
        port: config.listen.port,
        path: '/health',
        method: 'GET',
        timeout: 5_000,
        // Our own certificate, probed by address: its name cannot be expected to match.
        ...(tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => {
      process.stderr.write(`keel healthcheck: ${err.message}\n`);
      resolve(false);
    });
    req.end();
  });
}

probe().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(`keel healthcheck: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
