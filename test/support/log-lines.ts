/**
 * A pino logger whose JSON lines a test reads as objects, as they are written: for asserting
 * what the server logged (a run failed, a retry delay) without a log file.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

/** A logger at `level` that pushes each line it writes onto `lines`. */
export function loggerInto(lines: LogLine[], level = 'info'): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return pino({ level }, sink);
}
