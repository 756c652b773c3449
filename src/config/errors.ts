/**
 * The two ways start-up fails on the operator's side rather than on a bug: the configuration is
 * invalid (ConfigError), or it is valid but what it names cannot be used: a storage path, the
 * port, a TLS file (StartupError). Both carry one line that says what, where and what to do;
 * main.ts prints it without a stack trace.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
