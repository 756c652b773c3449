/** Figures about the stores for metrics scrapes and readiness checks, whatever index backs them. */
export interface StoreStats {
  /** Can the index answer a query? */
  ping(): boolean;
  uploadsInProgress(): number;
  /** Bytes of content recorded per store. */
  storeBytes(): { registry: number; proxy: number };
}
