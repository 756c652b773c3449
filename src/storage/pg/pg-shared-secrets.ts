/**
 * SharedSecrets on PostgreSQL (table shared_secrets). Insert-if-absent, then read, as two
 * statements: a second replica's INSERT waits for the first one's to commit and then does
 * nothing, and the read after it (a new snapshot) sees the value that won.
 */
import type { Clock } from '../../primitives/clock.js';
import type { SharedSecrets } from '../shared-secrets.js';
import type { PgPool } from './pg-pool.js';

export class PgSharedSecrets implements SharedSecrets {
  constructor(
    private readonly db: PgPool,
    private readonly clock: Clock,
  ) {}

  async getOrCreate(name: string, create: () => string): Promise<string> {
    const existing = await this.read(name);
    if (existing !== undefined) return existing;
    await this.db.run('INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [name, create(), this.clock.now()]);
    const stored = await this.read(name);
    if (stored === undefined) throw new Error(`shared secret ${name} is gone right after it was stored`);
    return stored;
  }

  private async read(name: string): Promise<string | undefined> {
    return (await this.db.one<{ value: string }>('SELECT value FROM shared_secrets WHERE name = $1', [name]))?.value;
  }
}
