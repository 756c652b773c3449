/**
 * How `database` is named to operators (readiness problems, logs) without its credentials: a
 * PostgreSQL URL keeps its scheme, host, port and database name, a SQLite index its path.
 */
export function databaseLabel(database: string): string {
  if (!/^postgres(ql)?:\/\//i.test(database)) return `database "${database}"`;
  try {
    const url = new URL(database);
    return `database "${url.protocol}//${url.host}${url.pathname}"`;
  } catch {
    // Not a URL after all: say nothing of it that could be a password.
    return 'database (PostgreSQL)';
  }
}
