/**
 * Bytes as a fetch body or Blob part. Preact's JSX types (the web UI) bring in the DOM's lib,
 * whose BodyInit and BlobPart take only views of a plain ArrayBuffer, while a Node Buffer may
 * sit on a SharedArrayBuffer as far as the types know. A Buffer on a plain ArrayBuffer (every
 * one the tests make) is passed as it is; anything else is copied.
 */
export function fetchBody(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}
