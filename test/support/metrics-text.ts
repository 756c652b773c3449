/** Reading Keel's /metrics text in tests. */

/**
 * The value of the series `name` carrying every label given (the replica label too, whatever
 * its value); with no labels, the series without any but `replica`. Undefined when there is none.
 */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const present = (m[2] as string).split(',');
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    if (wanted.every((l) => present.includes(l)) && (wanted.length > 0 || present.every((l) => l.startsWith('replica=')))) return Number(m[3]);
  }
  return undefined;
}
