/**
 * S3 failures as Keel sees them, in one file. RGW answers errors with an empty message (the
 * SDK's `e.message` is "UnknownError"), so only the error name and the HTTP status are read:
 * "not found" is NoSuchKey / NotFound / NoSuchUpload or a 404 (RGW answers NoSuchKey where AWS
 * says NoSuchUpload), a failed precondition is PreconditionFailed or a 412. Anything else
 * becomes an S3RequestError that names the request, the key, the S3 error and the status and
 * keeps the SDK's error as its cause.
 */

interface S3ErrorShape {
  name?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function shape(err: unknown): S3ErrorShape {
  return typeof err === 'object' && err !== null ? (err as S3ErrorShape) : {};
}

export function s3Status(err: unknown): number | undefined {
  const status = shape(err).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function s3Name(err: unknown): string {
  const e = shape(err);
  if (typeof e.Code === 'string' && e.Code !== '') return e.Code;
  return typeof e.name === 'string' ? e.name : 'Error';
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);

export function isNotFound(err: unknown): boolean {
  return NOT_FOUND.has(s3Name(err)) || s3Status(err) === 404;
}

export function isPreconditionFailed(err: unknown): boolean {
  return s3Name(err) === 'PreconditionFailed' || s3Status(err) === 412;
}

/** A request to the object store failed for a reason other than a missing key. */
export class S3RequestError extends Error {
  constructor(
    readonly operation: string,
    readonly key: string,
    readonly s3Code: string,
    readonly status: number | undefined,
    cause: unknown,
  ) {
    super(`S3 ${operation} ${key} failed: ${s3Code}${status === undefined ? '' : ` (HTTP ${status})`}`, { cause });
    this.name = 'S3RequestError';
  }
}

/** `err` as an S3RequestError naming `operation` and `key` (errors of ours pass through). */
export function s3Failure(operation: string, key: string, err: unknown): Error {
  if (err instanceof S3RequestError) return err;
  if (!('$metadata' in shape(err)) && err instanceof Error) return err;
  return new S3RequestError(operation, key, s3Name(err), s3Status(err), err);
}
