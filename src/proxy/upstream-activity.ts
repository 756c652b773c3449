/**
 * The proxy's hits and misses per upstream or group since this process started, for the UI's
 * proxy page and /api/v1/upstreams: a ProxyMetrics that counts what it is told and passes
 * everything on to the metrics it wraps (Prometheus, when metrics are on), so the proxy
 * reports once and both hear it.
 */
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';

export interface UpstreamCounts {
  manifestHits: number;
  manifestMisses: number;
  blobHits: number;
  blobMisses: number;
}

export class UpstreamActivity implements ProxyMetrics {
  private readonly counts = new Map<string, UpstreamCounts>();

  constructor(private readonly inner: ProxyMetrics = noProxyMetrics) {}

  /** The counts of an upstream or group (zeros when it has served nothing yet). */
  of(upstream: string): UpstreamCounts {
    return { ...(this.counts.get(upstream) ?? { manifestHits: 0, manifestMisses: 0, blobHits: 0, blobMisses: 0 }) };
  }

  private bump(upstream: string, key: keyof UpstreamCounts): void {
    let c = this.counts.get(upstream);
    if (c === undefined) {
      c = { manifestHits: 0, manifestMisses: 0, blobHits: 0, blobMisses: 0 };
      this.counts.set(upstream, c);
    }
    c[key]++;
  }

  cacheHit(upstream: string, kind: 'manifest' | 'blob'): void {
    this.bump(upstream, kind === 'manifest' ? 'manifestHits' : 'blobHits');
    this.inner.cacheHit(upstream, kind);
  }

  cacheMiss(upstream: string, kind: 'manifest' | 'blob'): void {
    this.bump(upstream, kind === 'manifest' ? 'manifestMisses' : 'blobMisses');
    this.inner.cacheMiss(upstream, kind);
  }

  joined(kind: 'manifest' | 'blob'): void {
    this.inner.joined(kind);
  }

  upstreamRequest(member: string, method: string, status: number, seconds: number): void {
    this.inner.upstreamRequest(member, method, status, seconds);
  }

  upstreamBytes(upstream: string, member: string, bytes: number): void {
    this.inner.upstreamBytes(upstream, member, bytes);
  }

  tokenFetched(member: string, ok: boolean): void {
    this.inner.tokenFetched(member, ok);
  }

  peerRelay(): void {
    this.inner.peerRelay();
  }

  peerTakeover(): void {
    this.inner.peerTakeover();
  }
}
