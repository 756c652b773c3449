/**
 * The index could not be opened: one line saying why and what to do, without the location
 * itself (the caller names the setting and shows the location with its password hidden).
 */
export class IndexOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IndexOpenError';
  }
}
