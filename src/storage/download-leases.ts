/**
 * Who is downloading what from an upstream, shared by every process on the index, so that
 * one proxy miss makes one upstream fetch across all replicas. A lease names its holder
 * (a replica) and the address other replicas stream the download from while it runs; it
 * expires unless renewed, so a replica that dies lets another take over.
 */
export interface DownloadLease {
  /** What is downloaded: upstream and digest (the caller builds it). */
  key: string;
  /** The replica holding it (its `cluster.replica` name plus a per-process nonce). */
  holder: string;
  /** Base URL where the holder serves the download to other replicas while it runs. */
  holderUrl: string;
  /** Epoch ms after which the lease is free for anyone to take. */
  expiresAt: number;
}

export type LeaseClaim = { won: true } | { won: false; current: DownloadLease };

export interface DownloadLeases {
  /**
   * Takes the lease for `key` when nobody holds it or the holder's lease has expired at `now`
   * (one atomic step: of two replicas claiming at once, exactly one wins). Otherwise says who holds it.
   */
  claim(key: string, holder: string, holderUrl: string, ttlMs: number, now: number): Promise<LeaseClaim>;
  /** Extends the holder's lease to now + ttlMs; false when it is no longer the holder (expired and taken). */
  renew(key: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease up (only the holder's own). */
  release(key: string, holder: string): Promise<void>;
}
