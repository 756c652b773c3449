/**
 * Secrets every replica on one index must agree on (the token signing key, the key that
 * authenticates replicas to each other), kept in the index so that no operator has to
 * copy them around. The first process to ask creates one; every later one reads it.
 */
export interface SharedSecrets {
  /**
   * The value stored under `name`, or, when there is none yet, `create()`'s, stored
   * atomically: of several processes creating at once, all get the one value that won.
   */
  getOrCreate(name: string, create: () => string): Promise<string>;
}
