/**
 * Waiting for facts instead of time: conditions a test waits on are looked at again whenever
 * something it watches happens (an upstream request, a log line), so nothing is polled or slept.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export class Watch {
  private readonly waiting: Array<() => boolean> = [];

  /** Something happened: re-checks every condition waited on. */
  changed(): void {
    for (const check of this.waiting.splice(0)) if (!check()) this.waiting.push(check);
  }

  /** Resolves once `until()` holds, looked at now and after every change. */
  when(until: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (!until()) return false;
        resolve();
        return true;
      };
      if (!check()) this.waiting.push(check);
    });
  }
}

export interface LogLine {
  msg?: string;
  [field: string]: unknown;
}

/** An info-level logger whose lines land in `logs`, each one a change for `watch`. */
export function watchedLogger(watch: Watch): { logger: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      watch.changed();
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), logs };
}
