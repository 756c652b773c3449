/** How the UI writes sizes and dates. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB"; bytes below 1 KiB exactly. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

/** An RFC 3339 time from a config ("2024-05-01T12:00:00.123456789Z") as "2024-05-01 12:00:00 UTC"; anything else as it is. */
export function formatCreated(raw: string): string {
  const time = Date.parse(raw);
  if (Number.isNaN(time)) return raw;
  return `${new Date(time).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Epoch ms as "2026-12-02 07:24 UTC" (with seconds: "07:24:10"); 0 or undefined: "never". */
export function formatTime(ms: number | undefined, seconds = false): string {
  if (ms === undefined || ms === 0) return 'never';
  return `${new Date(ms).toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ')} UTC`;
}
