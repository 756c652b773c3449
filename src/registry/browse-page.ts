/**
 * One page of a keyset listing, filtered by what the caller may see before it is cut: the
 * index is read in batches from the cursor on, rows the caller may not see are skipped (not
 * counted, never in a cursor), until the page and one more row are found or the rows end.
 * The next cursor is the key of the page's last item, so walking the pages reveals nothing
 * hidden (a cursor naming a hidden row would). Without a filter that is one read of `limit + 1`
 * rows; a user who may see few of many repositories makes the index read past the rest.
 */
export interface KeysetPage<T> {
  items: T[];
  /** Whether rows follow the last item. */
  more: boolean;
}

export async function keysetPage<T, K>(
  fetch: (after: K | undefined, limit: number) => Promise<T[]>,
  keyOf: (item: T) => K,
  after: K | undefined,
  limit: number,
  visible: ((item: T) => boolean) | undefined,
): Promise<KeysetPage<T>> {
  if (!visible) {
    const rows = await fetch(after, limit + 1);
    return { items: rows.slice(0, limit), more: rows.length > limit };
  }
  const batch = Math.max(limit + 1, 100);
  const found: T[] = [];
  let cursor = after;
  for (;;) {
    const rows = await fetch(cursor, batch);
    for (const row of rows) {
      if (!visible(row)) continue;
      if (found.length === limit) return { items: found, more: true };
      found.push(row);
    }
    const last = rows[rows.length - 1];
    if (rows.length < batch || last === undefined) return { items: found, more: false };
    cursor = keyOf(last);
  }
}
