/** Token scopes as the Docker token spec writes them: `repository:<name>:pull,push`, `registry:catalog:*`. */

export type Action = 'pull' | 'push' | 'delete';

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
  /** Actions that were asked for and refused (Keel's own claim): a request needing one is DENIED, not challenged again. */
  refused?: string[];
}

export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  if (type !== 'repository' && type !== 'registry') return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return { type, name: scope.slice(first + 1, last), actions };
}

/** Scopes from query values or a form: several parameters, or several scopes in one separated by spaces. */
export function parseScopes(values: string[]): AccessEntry[] {
  return values.flatMap((v) => v.split(' ')).flatMap((s) => {
    const parsed = parseScope(s);
    return parsed ? [parsed] : [];
  });
}

export function formatScope(name: string, actions: readonly string[]): string {
  return `repository:${name}:${actions.join(',')}`;
}
