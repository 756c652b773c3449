/**
 * Figures about the stores for metrics scrapes and readiness checks, whatever index backs
 * them. Async: a database on another host (PostgreSQL) answers over the network.
 */
export interface StoreStats {
  /** Can the index answer a query? Never rejects: false when it cannot. */
  ping(): Promise<boolean>;
  uploadsInProgress(): Promise<number>;
  /** Bytes of content recorded per store. */
  storeBytes(): Promise<{ registry: number; proxy: number }>;
}
