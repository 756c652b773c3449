/**
 * What the proxy reports about its work, for the metrics endpoint. Injected; the default
 * records nothing, so proxy code never depends on a metrics library.
 */
export interface ProxyMetrics {
  cacheHit(upstream: string, kind: 'manifest' | 'blob'): void;
  cacheMiss(upstream: string, kind: 'manifest' | 'blob'): void;
  /** A request joined a fetch already in flight (single-flight). */
  joined(kind: 'manifest' | 'blob'): void;
  /** One upstream request (per group member): status 0 when there was no HTTP answer. */
  upstreamRequest(member: string, method: string, status: number, seconds: number): void;
  upstreamBytes(upstream: string, member: string, bytes: number): void;
  tokenFetched(member: string, ok: boolean): void;
  /** A download another replica holds was followed from it (each stream from a holder counts). */
  peerRelay(): void;
  /** A download whose holder died was taken over from the upstream by this replica. */
  peerTakeover(): void;
}

export const noProxyMetrics: ProxyMetrics = {
  cacheHit: () => undefined,
  cacheMiss: () => undefined,
  joined: () => undefined,
  upstreamRequest: () => undefined,
  upstreamBytes: () => undefined,
  tokenFetched: () => undefined,
  peerRelay: () => undefined,
  peerTakeover: () => undefined,
};
