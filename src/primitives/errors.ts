/**
 * The one error model of Keel. Domain code throws a RegistryError whose code is an
 * OCI Distribution error code; the HTTP layer turns it into
 * `{"errors":[{"code","message","detail"}]}` with the status from STATUS_BY_CODE.
 */

export const STATUS_BY_CODE = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  PAGINATION_NUMBER_INVALID: 400,
  TOOMANYREQUESTS: 429,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  readonly status: number;
  /** Response headers that belong with the error: an upstream's `Retry-After` on TOOMANYREQUESTS, the Content-Range of a 416. */
  readonly headers: Readonly<Record<string, string>>;

  /** `status` overrides the code's usual status where the spec asks for another (413, 416, 404 for UNSUPPORTED routes). */
  constructor(code: ErrorCode, message: string, detail?: unknown, status?: number, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail;
    this.status = status ?? STATUS_BY_CODE[code];
    this.headers = Object.freeze({ ...headers });
  }

  toJSON(): { code: ErrorCode; message: string; detail?: unknown } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

/** A refusal the client should try again later: the status of its code, with a Retry-After header. */
export class RetryLaterError extends RegistryError {
  constructor(
    code: 'UNAVAILABLE' | 'TOOMANYREQUESTS',
    message: string,
    /** Seconds, for the Retry-After header. */
    readonly retryAfter: number,
    detail?: unknown,
  ) {
    super(code, message, detail, undefined, { 'Retry-After': String(retryAfter) });
    this.name = 'RetryLaterError';
  }
}
