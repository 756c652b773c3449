/**
 * What several processes on one index coordinate through (issue 18): secrets they must agree
 * on (shared-secrets.ts), who downloads what from an upstream (download-leases.ts), and which
 * request is writing to an upload session (a claim with an expiry, so a dead process's
 * claim lapses).
 */
export const up = `
CREATE TABLE shared_secrets (
  name        TEXT PRIMARY KEY,
  value       TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE download_leases (
  key         TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  holder_url  TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE uploads ADD COLUMN claimed_by TEXT;
ALTER TABLE uploads ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
`;
