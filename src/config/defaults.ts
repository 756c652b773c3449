/**
 * Every setting Keel knows, with its default, in the shape configuration.toml has.
 * This object is also the list of environment variables: each leaf `a.b_c` can be set as
 * `KEEL_A_B_C`. Add a setting here and in schema.ts; nothing else needs to know about it.
 */
export const DEFAULTS = {
  listen: '0.0.0.0:5000',
  /** A directory, or "s3://<bucket>/<prefix>" for a bucket configured under [s3]. */
  registry_storage: 'storage/registry',
  /** Always a local directory: proxy spools and other local temporary files. */
  temporary_registry_storage: 'storage/_tmp',
  /** A directory, or "s3://<bucket>/<prefix>" (the same bucket as registry_storage or another, not the same keys). */
  proxy_storage: 'storage/proxy',
  /** The index: a SQLite file, or "postgres://user:password@host:5432/db" (several replicas share one PostgreSQL). */
  database: 'storage/index.db',
  /** PostgreSQL only: connections each Keel process keeps at most. */
  database_pool_size: 10,
  limits: {
    max_manifest_size: '4MiB',
    max_list_page: 10000,
    manifest_cache_size: '16MiB',
    /** Largest blob accepted on push ("0": no limit). */
    max_blob_size: '0',
    /** Blob GET bodies sent at once (local blobs and the proxy's); more wait in a queue. */
    blob_streams: 512,
    /** GETs that may wait for a stream; more get 503 with Retry-After at once. */
    blob_stream_queue: 1024,
    /** How long a GET waits in the queue before it gets 503 with Retry-After. */
    blob_stream_wait: '10s',
    /**
     * Memory for the large (1 MiB) send buffers of clients that read fast; every stream may
     * also hold two of the 64 KiB file chunks streams share, and 16 MiB of idle chunks are
     * kept (storage/fs/send-buffers.ts). Send buffers never take more than
     * blob_send_memory + 16 MiB + blob_streams x 128 KiB.
     */
    blob_send_memory: '16MiB',
  },
  http: {
    /** Largest request head (request line and headers). */
    max_header_size: '16KiB',
    idle_timeout: '5m',
    headers_timeout: '1m',
    shutdown_timeout: '30s',
  },
  log: {
    level: 'info',
    /** "json": one JSON object per line (for collectors); "pretty": colourful lines for a terminal. */
    format: 'json',
  },
  metrics: {
    /** Serve Prometheus metrics at GET /metrics. */
    enabled: true,
    /** A separate "host:port" for /metrics (and nothing else); empty: the main port. */
    listen: '',
    /** With auth on, the users who may read /metrics on the main port (Basic or token); empty: every signed-in user. */
    users: [] as string[],
  },
  ui: {
    /** Serve the web UI at / and /ui/ (false: neither is mounted, both answer 404). */
    enabled: true,
    /** The sub-path a reverse proxy serves Keel under ("/registry"); every UI link starts with it. Keel itself still serves at /. */
    path_prefix: '',
  },
  proxy: {
    /** Hosts that may be proxied by their own name (https://<host>); anything else is refused. */
    allow: [
      'registry-1.docker.io',
      'quay.io',
      'ghcr.io',
      'gcr.io',
      'registry.k8s.io',
      'public.ecr.aws',
      'mcr.microsoft.com',
      'nvcr.io',
      'registry.gitlab.com',
    ] as string[],
    tag_ttl: '5m',
    timeout: '30s',
    /** How long a group member that failed (unreachable, timeout, 5xx) is skipped. */
    backoff: '30s',
    /** Named upstreams, `[proxy.upstreams."<name>"]`: not settable from the environment. */
    upstreams: {} as Record<string, unknown>,
    /** Groups of upstreams tried in order, `[proxy.groups.<name>] members = [...]`. */
    groups: {} as Record<string, unknown>,
    /** Scheduled warming, `[[proxy.sync]]` entries (sync-entry.ts in proxy/): not settable from the environment. */
    sync: [] as unknown[],
    warm: {
      /** Blob downloads cache warming (scripts/warm, the warm API, [[proxy.sync]]) runs at once. */
      concurrency: 3,
      /** Bytes a second warming may read from upstreams, all its downloads together ("50MiB"); 0: no cap. Clients' own pulls are never capped. */
      bandwidth: '0',
    },
    /** Short names for upstreams or groups, `"docker.io" = "registry-1.docker.io"`. Merged over these defaults. */
    aliases: {
      'docker.io': 'registry-1.docker.io',
      'index.docker.io': 'registry-1.docker.io',
      'k8s.gcr.io': 'registry.k8s.io',
      'quay.io': 'quay.io',
      'ghcr.io': 'ghcr.io',
      'gcr.io': 'gcr.io',
      'registry.k8s.io': 'registry.k8s.io',
      'nvcr.io': 'nvcr.io',
    } as Record<string, string>,
  },
  auth: {
    /** htpasswd file (bcrypt) of users; empty: authentication off (the quick-start default). */
    htpasswd: '',
    /** Token endpoint URL given to clients in the challenge; empty: this server's /token, from the request's Host. */
    realm: '',
    service: 'keel',
    issuer: 'keel',
    token_ttl: '5m',
    /** How long a web UI sign-in lasts (its session cookie); signing out ends it in that browser. */
    ui_session_ttl: '8h',
    /** PEM private key (EC P-256) signing tokens; created on first start when missing. */
    signing_key: 'storage/auth/signing-key.pem',
    /** Named groups of users for access rules: `[auth.groups] team-a = ["alice", "bob"]`. */
    groups: {} as Record<string, string[]>,
    /** `[[auth.access]]` rules; none: every user may pull, push and delete everything, anonymous nothing. */
    access: [] as unknown[],
    /** Worker threads checking passwords (bcrypt is slow on purpose; it never runs on the thread serving requests). */
    password_workers: 2,
    /** Password checks that may wait for a worker; beyond that a sign-in is 429 at once. */
    password_queue: 64,
    /** How long a successful sign-in is remembered (no bcrypt for the same password again); "0s": never. */
    password_cache_ttl: '1m',
    failures: {
      /** Failed sign-ins are counted in windows of this length. */
      window: '5m',
      /** Failed sign-ins allowed per client address (IPv6: per /64) in a window, then 429 until it ends; 0: no limit. */
      per_client: 30,
      /** Failed sign-ins allowed per user name in a window, then 429 until it ends; 0: no limit. */
      per_user: 10,
    },
  },
  s3: {
    /** S3 API endpoint ("http://127.0.0.1:7480", "https://s3.eu-west-1.amazonaws.com"); empty: AWS's endpoint for the region. */
    endpoint: '',
    /** Empty: AWS_REGION, then AWS_DEFAULT_REGION, then "us-east-1". */
    region: '',
    /** Address buckets as endpoint/bucket/key instead of bucket.endpoint/key (MinIO, Ceph RGW and most self-hosted servers need it). */
    force_path_style: false,
    /** Static credentials (both or neither; `${VAR}` reads them from the environment); empty: the AWS default credential chain. */
    access_key_id: '',
    secret_access_key: '',
    /** Answer blob GETs with a 307 to a presigned URL of the object; false: Keel streams the object itself. */
    redirect: true,
    /** How long a presigned URL stays valid (at most 7 days, S3's limit). */
    redirect_ttl: '20m',
  },
  cluster: {
    /** This replica's name in logs, metrics (the `replica` label) and download leases; empty: the host name. */
    replica: '',
    /**
     * Base URL other replicas reach this one at, to stream a proxy download it owns
     * ("http://10.0.0.5:5000"); empty: http://<this host's first non-loopback IPv4>:<listen port>.
     */
    advertise_url: '',
    /**
     * How long a replica's claim on a proxy download lasts unless renewed: when it dies, the
     * others wait at most this long before one of them takes the download over.
     */
    download_lease_ttl: '10s',
    /** How often the replica downloading renews its claim; well under download_lease_ttl. */
    download_lease_renew: '3s',
    /**
     * How long a request's hold on an upload session lasts without being renewed (renewed every
     * third of it while a chunk streams): after a replica dies, its session can be written again
     * from another one this long after its last renewal.
     */
    upload_claim_ttl: '30s',
  },
  tls: {
    /** PEM certificate chain and key: serve HTTPS. Both or neither. */
    cert: '',
    key: '',
  },
  gc: {
    /** Nothing younger than this is deleted: uploads and downloads in progress are safe. */
    grace: '1h',
    /** Upload sessions untouched for this long are removed. */
    upload_max_age: '24h',
    proxy: {
      /** Cached content not read for this long is evicted ("0s": never by age). */
      max_age: '30d',
      /** Least recently used cached images are evicted beyond this size ("0": no cap). */
      max_size: '0',
    },
  },
  mirror: {
    /** Upstream or group that serves ordinary names missing locally (Docker's registry-mirrors); empty: off. */
    upstream: '',
    /** Honour containerd's `?ns=<registry host>` to pick the upstream of a mirrored pull. */
    ns: true,
  },
};

export type RawConfig = typeof DEFAULTS;
