/**
 * Sizes of the S3 backend's pieces. 16 MiB pieces with 2 PUTs in flight measured 160-230 MiB/s
 * against the test RGW (S3-TESTING.md) while a writer holds at most 3 piece buffers (48 MiB)
 * however large the blob; 10,000 pieces (S3's most parts) make 156 GiB the largest blob.
 */
export interface S3Tuning {
  /** Bytes per stored piece (>= minPart). */
  partSize: number;
  /** Piece PUTs in flight per writer or append. */
  inFlight: number;
  /** S3's smallest part but the last: 5 MiB. A shorter end of an append is kept as a tail. */
  minPart: number;
}

export const DEFAULT_TUNING: S3Tuning = Object.freeze({ partSize: 16 * 1024 * 1024, inFlight: 2, minPart: 5 * 1024 * 1024 });
