/**
 * Users from an htpasswd file with bcrypt hashes (`htpasswd -B`).
 *
 * Every check of a password that is not remembered costs exactly one bcrypt comparison, for
 * known and unknown users alike: an unknown user is compared against a dummy hash of the
 * highest cost in the file, so the answer takes as long as for a known user with a wrong
 * password and timing does not tell which names exist. The comparison itself is the
 * injected PasswordVerifier's (a worker pool in Keel: bcrypt-pool.ts).
 *
 * A successful check is remembered for `rememberMs` on the injected clock, since clients
 * ask for a token on nearly every operation: keyed by the user and a SHA-256 of the password
 * with a random per-process salt, so neither the password nor an offline-checkable hash of it
 * is kept. Wrong passwords are never remembered.
 *
 * An instance never changes: reread() (SIGHUP, auth-reload.ts) builds a new one from the same
 * file, with an empty memory, so a removed user or an old password is not remembered past it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../primitives/clock.js';
import type { PasswordVerifier } from './bcrypt-pool.js';

export class HtpasswdError extends Error {}

const BCRYPT = /^\$2[abxy]\$(\d\d)\$/;

/** Cost of the dummy hash when the file has no users. */
const DEFAULT_COST = 10;

export interface HtpasswdOptions {
  verifier: PasswordVerifier;
  clock: Clock;
  /** How long a successful check is remembered; 0: never. */
  rememberMs: number;
}

export class Htpasswd {
  /** user + salted password hash → when the memory ends (clock ms). */
  private readonly verified = new LRUCache<string, number>({ max: 1000 });
  private readonly salt = randomBytes(32);
  private readonly dummyHash: string;

  private readonly dummyCost: number;

  private constructor(
    /** The file, for messages. */
    readonly path: string,
    private readonly hashes: ReadonlyMap<string, string>,
    private readonly options: HtpasswdOptions,
    previous?: Htpasswd,
  ) {
    const costs = [...hashes.values()].map((h) => Number(BCRYPT.exec(h)?.[1] ?? DEFAULT_COST));
    this.dummyCost = Math.min(31, Math.max(4, costs.length > 0 ? Math.max(...costs) : DEFAULT_COST));
    // hashSync blocks the event loop for one bcrypt of that cost: skipped on a reload that keeps the cost.
    this.dummyHash =
      previous && previous.dummyCost === this.dummyCost ? previous.dummyHash : bcrypt.hashSync(randomBytes(16).toString('hex'), this.dummyCost);
  }

  static load(path: string, options: HtpasswdOptions): Htpasswd {
    return new Htpasswd(path, Htpasswd.read(path), options);
  }

  /** The same file read again, with the same options and nothing remembered; throws HtpasswdError. */
  reread(): Htpasswd {
    return new Htpasswd(this.path, Htpasswd.read(this.path), this.options, this);
  }

  private static read(path: string): Map<string, string> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new HtpasswdError(`cannot read auth.htpasswd ${path}: ${(err as Error).message}`);
    }
    const hashes = new Map<string, string>();
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1).trim();
      if (colon <= 0 || !BCRYPT.test(hash)) {
        throw new HtpasswdError(`${path} line ${i + 1}: only bcrypt entries are supported (create them with htpasswd -B)`);
      }
      hashes.set(user, hash);
    });
    return hashes;
  }

  get size(): number {
    return this.hashes.size;
  }

  has(user: string): boolean {
    return this.hashes.has(user);
  }

  /** Which user names `next` adds, removes, or gives another hash (names only: hashes stay here). */
  changesTo(next: Htpasswd): { added: string[]; removed: string[]; changed: string[] } {
    const added = [...next.hashes.keys()].filter((u) => !this.hashes.has(u));
    const removed = [...this.hashes.keys()].filter((u) => !next.hashes.has(u));
    const changed = [...this.hashes.keys()].filter((u) => next.hashes.has(u) && next.hashes.get(u) !== this.hashes.get(u));
    return { added, removed, changed };
  }

  /** Whether this password was verified for this user within the last `rememberMs` (no bcrypt work). */
  remembers(user: string, password: string): boolean {
    const until = this.verified.get(this.memoryKey(user, password));
    return until !== undefined && this.options.clock.now() < until;
  }

  /** Checks the password: remembered, or one bcrypt comparison whether or not the user exists. */
  async verify(user: string, password: string): Promise<boolean> {
    if (this.remembers(user, password)) return true;
    const hash = this.hashes.get(user);
    const ok = await this.options.verifier.compare(password, hash ?? this.dummyHash);
    if (!ok || hash === undefined) return false;
    if (this.options.rememberMs > 0) this.verified.set(this.memoryKey(user, password), this.options.clock.now() + this.options.rememberMs);
    return true;
  }

  private memoryKey(user: string, password: string): string {
    return `${user}\n${createHash('sha256').update(this.salt).update(user).update('\0').update(password).digest('base64')}`;
  }
}
