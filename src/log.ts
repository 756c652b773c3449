/**
 * The logger of the server and the GC: pino, JSON lines by default or pino-pretty for a
 * terminal (log.format). Fields that look like secrets are redacted as a second line of
 * defence; nothing Keel logs carries them.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config/schema.js';

const REDACT = [
  'authorization',
  'password',
  'token',
  'secret_access_key',
  'secretAccessKey',
  '*.authorization',
  '*.password',
  '*.token',
  '*.secret_access_key',
  '*.secretAccessKey',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(config: Config['log'], destination: 1 | 2 = 1): Logger {
  const options = { level: config.level, redact: REDACT };
  if (config.format === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options, pino.destination(destination) as DestinationStream);
}
