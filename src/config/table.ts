/** The untyped shape settings have before validation: TOML tables, merged layer over layer. */
export type Table = { [key: string]: unknown };

export function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** `over` wins; tables merge key by key, anything else (arrays included) is replaced. */
export function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTable(prev) && isTable(value) ? merge(prev, value) : value;
  }
  return out;
}
