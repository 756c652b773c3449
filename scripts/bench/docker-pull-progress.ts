/**
 * Reads `docker pull`'s progress output (not a terminal: one status line per change) and
 * tells which layers were pulled and when each one's download ended.
 *
 * dockerd coalesces a layer's progress updates (a watcher that falls behind gets only the
 * latest), so any status but the last can be missing: in CI runs a layer went from "Verifying
 * Checksum" straight to "Pull complete", and another had neither "Download complete" nor
 * "Verifying Checksum". A layer's download therefore ends at the first of "Verifying
 * Checksum", "Download complete", "Extracting" or "Pull complete" seen for it; the later two
 * are upper bounds (extraction starts after the download), counted as `inferred`.
 */

const LAYER_LINE = /^([0-9a-f]{12}): (.+)$/;
const DOWNLOAD_END = new Set(['Verifying Checksum', 'Download complete']);

export interface PullProgressSummary {
  /** Layers with "Pull complete". */
  pulled: number;
  /** Layers docker found already there. */
  existed: number;
  /** Pulled layers whose download end was taken from a later status (Extracting, Pull complete). */
  inferred: number;
  /** When the last layer's download ended, in the clock of the `at` passed to `line`; 0 if none. */
  downloadedAt: number;
}

export class PullProgress {
  private pending = '';
  private readonly downloadEnd = new Map<string, { at: number; inferred: boolean }>();
  private readonly pulled = new Set<string>();
  private readonly existed = new Set<string>();

  /** Feeds a chunk of stdout that arrived at time `at`. */
  write(chunk: string, at: number): void {
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line.trimEnd(), at);
  }

  summary(): PullProgressSummary {
    let downloadedAt = 0;
    let inferred = 0;
    for (const id of this.pulled) {
      const end = this.downloadEnd.get(id);
      if (end === undefined) continue;
      downloadedAt = Math.max(downloadedAt, end.at);
      if (end.inferred) inferred++;
    }
    return { pulled: this.pulled.size, existed: this.existed.size, inferred, downloadedAt };
  }

  private line(line: string, at: number): void {
    const m = LAYER_LINE.exec(line);
    if (m === null) return;
    const id = m[1] as string;
    const status = m[2] as string;
    if (status === 'Already exists') {
      this.existed.add(id);
      return;
    }
    const ends = DOWNLOAD_END.has(status);
    const later = status === 'Pull complete' || status.startsWith('Extracting');
    if ((ends || later) && !this.downloadEnd.has(id)) this.downloadEnd.set(id, { at, inferred: !ends });
    if (status === 'Pull complete') this.pulled.add(id);
  }
}
