/**
 * A setting the S3 client cannot be built with; `key` names the setting or variable to fix.
 * In a file of its own, without the AWS SDK, so the server can recognise it while the driver
 * itself is only loaded for an s3:// location (storage/backends.ts).
 */
export class S3SettingsError extends Error {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'S3SettingsError';
  }
}
