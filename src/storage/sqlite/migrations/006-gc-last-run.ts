/**
 * Nothing: PostgreSQL's migration 006 adds the table that keeps the last GC run; SQLite keeps
 * that record in a file beside the database (sqlite-last-gc-run.ts). Empty so both schemas
 * keep one number per migration.
 */
export const up = '';
