/**
 * Every setting Keel knows, with its default, in the shape configuration.toml has.
 * This object is also the list of environment variables: each leaf `a.b_c` can be set as
 * `KEEL_A_B_C`. Add a setting here and in schema.ts; nothing else needs to know about it.
 */
export const DEFAULTS = {
  listen: '0.0.0.0:5000',
  registry_storage: 'storage/registry',
  temporary_registry_storage: 'storage/_tmp',
  proxy_storage: 'storage/proxy',
  database: 'storage/index.db',
  limits: {
    max_manifest_size: '4MiB',
    max_list_page: 10000,
  },
  http: {
    idle_timeout: '5m',
    headers_timeout: '1m',
    shutdown_timeout: '30s',
  },
  log: {
    level: 'info',
  },
};

export type RawConfig = typeof DEFAULTS;
