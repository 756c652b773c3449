/** SharedSecrets in the SQLite index (table shared_secrets of migration 005). */
import type Database from 'better-sqlite3';
import type { Clock } from '../../primitives/clock.js';
import type { SharedSecrets } from '../shared-secrets.js';
import type { SqliteWriter } from './sqlite-writer.js';

export class SqliteSharedSecrets implements SharedSecrets {
  private readonly store;

  constructor(db: Database.Database, writer: SqliteWriter, private readonly clock: Clock) {
    const insert = db.prepare<[string, string, number]>('INSERT INTO shared_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING');
    const read = db.prepare<[string], { value: string }>('SELECT value FROM shared_secrets WHERE name = ?');
    // Insert-if-absent and the read in one write transaction: the value returned is the one stored.
    this.store = writer.transaction((name: string, value: string, now: number): string => {
      insert.run(name, value, now);
      return (read.get(name) as { value: string }).value;
    });
  }

  getOrCreate(name: string, create: () => string): Promise<string> {
    return this.store(name, create(), this.clock.now());
  }
}
