/**
 * How big and how long each part of the benchmark is: the full run (under 5 minutes on a
 * 2-core machine) and the BENCH_QUICK=1 smoke run (about a minute) that the test suite uses.
 */
export const MiB = 1024 * 1024;

export interface BenchSettings {
  quick: boolean;
  /**
   * Untimed pushes of a `mediumSize` blob to each server before any push is timed, so the
   * push figures are a warmed-up server's (the request load steps warm up too).
   */
  warmupPushes: number;
  /** Small monolithic pushes: this many blobs of `smallSize`, timed together. */
  smallCount: number;
  smallSize: number;
  /** Medium monolithic pushes: this many fresh blobs, the median reported; the first is then GET. */
  mediumSize: number;
  mediumPushes: number;
  /** Large pushes, monolithic and chunked: this many fresh blobs each; the first is then GET. */
  largeSize: number;
  largePushes: number;
  /** Chunked pushes send `largeSize` bytes in PATCHes of `chunkSize`. */
  chunkSize: number;
  /** Timed repetitions of a blob GET (and of a cache hit); the median is reported. */
  getRepeats: number;
  /** Concurrent load (wrk for manifest GET, ab for blob HEAD). */
  loadSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Upstream blobs pulled through each proxy: each a miss, in turns; then hits on the first. */
  proxyBlobSize: number;
  proxyMisses: number;
  /** The blob 20 clients miss at once (a fresh one per server). */
  herdBlobSize: number;
  herdClients: number;
  /** The blob `herdClients` clients miss at once in the replica part: one Keel on S3, then 3 replicas. */
  replicaHerdBlobSize: number;
  /** The docker pull part (docker-pull-workload.ts): random data per layer of the image, in bytes. */
  pullLayerSizes: readonly number[];
  /** Cold docker pulls per source (a fresh image each), and warm ones (of images both caches hold). */
  pullColdSamples: number;
  pullWarmSamples: number;
}

export function benchSettings(quick: boolean): BenchSettings {
  return quick
    ? {
        quick,
        warmupPushes: 1,
        smallCount: 5,
        smallSize: 1 * MiB,
        mediumSize: 8 * MiB,
        mediumPushes: 3,
        largeSize: 32 * MiB,
        largePushes: 2,
        chunkSize: 8 * MiB,
        getRepeats: 3,
        loadSeconds: 3,
        warmupSeconds: 1,
        connections: 32,
        proxyBlobSize: 32 * MiB,
        proxyMisses: 3,
        herdBlobSize: 8 * MiB,
        herdClients: 20,
        replicaHerdBlobSize: 32 * MiB,
        pullLayerSizes: [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB],
        pullColdSamples: 1,
        pullWarmSamples: 1,
      }
    : {
        quick,
        // On a fresh Keel the first 64 MiB pushes take 0.20 and 0.15 s, later ones 0.11-0.13 s
        // (the JIT and the hashing worker warming up); Distribution's are flat from the first.
        warmupPushes: 3,
        smallCount: 20,
        smallSize: 1 * MiB,
        mediumSize: 64 * MiB,
        // Five fresh blobs per server and size: before the page cache was dropped ahead of each
        // push (measure.ts), single 512 MiB pushes ranged from 0.9 to 2.6 s here.
        mediumPushes: 5,
        largeSize: 512 * MiB,
        largePushes: 5,
        chunkSize: 8 * MiB,
        getRepeats: 5,
        loadSeconds: 10,
        warmupSeconds: 2,
        connections: 32,
        proxyBlobSize: 512 * MiB,
        // Five misses per proxy, in turns with the upstream's own GET: single misses of one
        // build ranged over 1.5x here from one to the next.
        proxyMisses: 5,
        herdBlobSize: 64 * MiB,
        herdClients: 20,
        // Issue 18's herd: 20 clients, one uncached 256 MiB blob, 3 replicas.
        replicaHerdBlobSize: 256 * MiB,
        // Issue 19: a 5-layer image of about 300 MiB, the big layers first as in most images.
        pullLayerSizes: [100 * MiB, 80 * MiB, 60 * MiB, 40 * MiB, 20 * MiB],
        pullColdSamples: 3,
        pullWarmSamples: 3,
      };
}

/** "512 MiB", "1 MiB", "512 KiB": sizes as the table prints them. */
export function formatSize(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
