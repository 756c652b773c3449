/**
 * Users from an htpasswd file with bcrypt hashes (`htpasswd -B`), checked with bcryptjs.
 * bcrypt is slow on purpose; a successful check is remembered (by a hash of the password)
 * for a while, since clients ask for a token on nearly every operation.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';

export class HtpasswdError extends Error {}

export class Htpasswd {
  private readonly verified = new LRUCache<string, true>({ max: 1000, ttl: 5 * 60_000 });

  private constructor(private readonly hashes: ReadonlyMap<string, string>) {}

  static load(path: string): Htpasswd {
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
      if (colon <= 0 || !/^\$2[abxy]\$\d\d\$/.test(hash)) {
        throw new HtpasswdError(`${path} line ${i + 1}: only bcrypt entries are supported (create them with htpasswd -B)`);
      }
      hashes.set(user, hash);
    });
    return new Htpasswd(hashes);
  }

  get size(): number {
    return this.hashes.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.hashes.get(user);
    if (hash === undefined) return false;
    const key = `${user}\n${createHash('sha256').update(hash).update('\0').update(password).digest('hex')}`;
    if (this.verified.has(key)) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) this.verified.set(key, true);
    return ok;
  }
}
