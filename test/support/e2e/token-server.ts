// A Docker token auth server (the `realm` of a `WWW-Authenticate: Bearer` challenge) on a
// free loopback port, for registries started with token auth (startDistribution's
// `tokenAuth`) and for proxy tests where Keel must follow the challenge.
//
//   GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]
//     optional `Authorization: Basic` → 200 {"token","access_token","expires_in","issued_at"}
//
// Tokens are JWTs signed with a key made at start (signing-key.ts), carrying its self-signed
// certificate in the `x5c` header: Distribution verifies them against `rootCertBundle`. Every
// request is recorded (with whether Basic credentials came with it) and issued tokens are
// counted, so a test can tell when a client fetched or refreshed a token.
//
// Layout under the temp dir: token-signing.key.pem, token-signing.crt.pem.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Credentials } from './credentials.js';
import type { DistributionTokenAuth } from './distribution.js';
import { signJwt, type JwtClaims, type ResourceAccess } from './jwt.js';
import { createSigningKey, type SigningKey, type SigningKeyType } from './signing-key.js';
import { makeTempDir } from './temp-dir.js';

export interface TokenServerOptions {
  /** exp - iat of issued tokens, and their `expires_in`. Default 300. */
  tokenLifetimeSeconds?: number;
  /** The only Basic credentials accepted; any others get 401. */
  credentials?: Credentials;
  /** Whether a request without credentials gets a token. Default: only when no `credentials` are set. */
  allowAnonymous?: boolean;
  /** Expected `service` query parameter and the tokens' `aud`. Default "keel-e2e-registry". */
  service?: string;
  /** The tokens' `iss`. Default "keel-e2e-token-issuer". */
  issuer?: string;
  /** Default rsa (RS256); ec is P-256 (ES256). */
  keyType?: SigningKeyType;
  /**
   * Milliseconds since the epoch, default Date.now. iat, nbf, exp and issued_at follow it:
   * a clock set back makes the server hand out tokens that are already expired.
   */
  clock?: () => number;
  /**
   * Which of the requested actions to grant. Default: all of them to an authenticated
   * client, only `pull` to an anonymous one.
   */
  grant?: (request: GrantRequest) => string[];
}

export interface GrantRequest {
  /** Basic username, or undefined when anonymous. */
  username: string | undefined;
  type: string;
  name: string;
  actions: readonly string[];
}

export interface TokenRequest {
  /** Arrival time by the server's clock (ms). */
  at: number;
  method: string;
  /** Path and query as sent. */
  url: string;
  service: string | undefined;
  /** Every scope asked for, as sent (repeated `scope` parameters, or space-separated ones). */
  scopes: string[];
  /** Whether an `Authorization: Basic` header came with it (right or wrong). */
  basicAuth: boolean;
  username: string | undefined;
  status: number;
  /** The token's access claim; undefined when no token was issued. */
  access: ResourceAccess[] | undefined;
  token: string | undefined;
}

export interface MintOptions {
  /** `sub`; default "" (anonymous). */
  subject?: string;
  access?: ResourceAccess[];
  /** Issue time in ms; default the server's clock. */
  now?: number;
  lifetimeSeconds?: number;
  audience?: string;
  issuer?: string;
}

export interface TokenServer {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** `${url}/token`, the challenge's realm. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly key: SigningKey;
  /** What startDistribution({ tokenAuth }) needs to trust this server. */
  readonly tokenAuth: DistributionTokenAuth;
  /** Tokens handed out over HTTP so far (mint() does not count). */
  readonly issued: number;
  /** Every request to the server, oldest first. */
  readonly requests: readonly TokenRequest[];
  /** A token signed by this server's key without an HTTP round trip, for crafted claims. */
  mint(opts?: MintOptions): string;
  /** Closes the server (and open connections) and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_LIFETIME_SECONDS = 300;

/** `repository:e2e/app:pull,push` → type, name, actions; the name may hold a colon (host:port/repo). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

function parseBasic(header: string | undefined): Credentials | 'malformed' | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const defaultGrant = (req: GrantRequest): string[] =>
  req.username === undefined ? req.actions.filter((a) => a === 'pull') : [...req.actions];

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length), ...headers });
  res.end(bytes);
}

const errorBody = (code: string, message: string): unknown => ({ errors: [{ code, message }] });

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const tmp = await makeTempDir('token');
  const clock = opts.clock ?? Date.now;
  const service = opts.service ?? 'keel-e2e-registry';
  const issuer = opts.issuer ?? 'keel-e2e-token-issuer';
  const lifetime = opts.tokenLifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS;
  const allowAnonymous = opts.allowAnonymous ?? opts.credentials === undefined;
  const grant = opts.grant ?? defaultGrant;
  const requests: TokenRequest[] = [];
  let issued = 0;

  let key: SigningKey;
  try {
    key = await createSigningKey({ dir: tmp.path, keyType: opts.keyType });
  } catch (e) {
    await tmp.remove();
    throw e;
  }

  const mint = (m: MintOptions = {}): string => {
    const iat = Math.floor((m.now ?? clock()) / 1000);
    const claims: JwtClaims = {
      iss: m.issuer ?? issuer,
      sub: m.subject ?? '',
      aud: m.audience ?? service,
      exp: iat + (m.lifetimeSeconds ?? lifetime),
      nbf: iat,
      iat,
      jti: randomBytes(16).toString('hex'),
      access: m.access ?? [],
    };
    return signJwt({ typ: 'JWT', alg: key.alg, x5c: key.x5c }, claims, key.privateKey);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const at = clock();
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const basic = parseBasic(req.headers.authorization);
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter((p) => p !== ''));
    const record: TokenRequest = {
      at,
      method: req.method ?? '',
      url: req.url ?? '',
      service: url.searchParams.get('service') ?? undefined,
      scopes,
      basicAuth: basic !== undefined,
      username: typeof basic === 'object' ? basic.username : undefined,
      status: 0,
      access: undefined,
      token: undefined,
    };
    requests.push(record);
    const reply = (status: number, body: unknown, headers?: Record<string, string>): void => {
      record.status = status;
      sendJson(res, status, body, headers);
    };
    const challenge = { 'WWW-Authenticate': 'Basic realm="keel-e2e-token"' };

    if (url.pathname !== '/token') return reply(404, errorBody('NOT_FOUND', `no such endpoint: ${url.pathname}`));
    if (req.method !== 'GET') return reply(405, errorBody('UNSUPPORTED', 'only GET /token is served'), { Allow: 'GET' });
    if (record.service !== undefined && record.service !== service) {
      return reply(400, errorBody('DENIED', `unknown service ${JSON.stringify(record.service)}, expected ${JSON.stringify(service)}`));
    }
    if (basic === 'malformed') return reply(401, errorBody('UNAUTHORIZED', 'malformed Basic credentials'), challenge);
    if (basic === undefined && !allowAnonymous) return reply(401, errorBody('UNAUTHORIZED', 'authentication required'), challenge);
    if (basic !== undefined && (basic.username !== opts.credentials?.username || basic.password !== opts.credentials.password)) {
      return reply(401, errorBody('UNAUTHORIZED', 'invalid username or password'), challenge);
    }

    const access: ResourceAccess[] = [];
    for (const raw of scopes) {
      const scope = parseScope(raw);
      if (scope === undefined) return reply(400, errorBody('DENIED', `malformed scope ${JSON.stringify(raw)}`));
      const actions = grant({ username: basic?.username, ...scope });
      const same = access.find((a) => a.type === scope.type && a.name === scope.name);
      if (same !== undefined) same.actions = [...new Set([...same.actions, ...actions])];
      else if (actions.length > 0) access.push({ type: scope.type, name: scope.name, actions });
    }
    const token = mint({ subject: basic?.username ?? '', access, now: at });
    issued++;
    record.access = access;
    record.token = token;
    reply(200, {
      token,
      access_token: token,
      expires_in: lifetime,
      issued_at: new Date(Math.floor(at / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    });
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) sendJson(res, 500, errorBody('UNKNOWN', String(e)));
      else res.destroy();
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (e) {
    await tmp.remove();
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const realm = `${url}/token`;

  let stopping: Promise<void> | undefined;
  return {
    url,
    realm,
    service,
    issuer,
    key,
    tokenAuth: { realm, service, issuer, rootCertBundle: key.certFile },
    get issued() {
      return issued;
    },
    requests,
    mint,
    stop() {
      stopping ??= (async () => {
        try {
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          });
        } finally {
          await tmp.remove();
        }
      })();
      return stopping;
    },
  };
}
