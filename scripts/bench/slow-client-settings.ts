/** How big the slow-client part is (slow-clients-workload.ts): the full run, and the BENCH_QUICK=1 smoke run. */
import { MiB } from './settings.js';

export interface SlowClientSettings {
  clients: number;
  blobSize: number;
  /** Bytes per second each slow client reads at most. */
  rate: number;
  /** Fast GETs on the idle server, and again while the slow clients read. */
  fastGets: number;
  /** How long after the slow clients started the fast GETs begin (their connections are all open by then). */
  fastDelayMs: number;
}

export function slowClientSettings(quick: boolean): SlowClientSettings {
  return quick
    ? { clients: 30, blobSize: 8 * MiB, rate: 2_000_000, fastGets: 3, fastDelayMs: 1_000 }
    : { clients: 300, blobSize: 64 * MiB, rate: 2_000_000, fastGets: 3, fastDelayMs: 8_000 };
}
