/**
 * Reads the multipart body of POST /api/v1/import with busboy as it arrives, never whole:
 * the fields `repository` and `tag` (repeatable), then the file field `archive`, handed on
 * as a stream the moment its part starts. The fields must come first (curl -F and browsers
 * send parts in the order given), since the archive's blobs are uploaded into the
 * repository while they stream. Other parts are skipped.
 */
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { RegistryError } from '../primitives/errors.js';
import { baseMediaType } from '../primitives/media-types.js';
import { parseRepoName, parseTag, type RepoName, type Tag } from '../primitives/types.js';
import { isProxyName } from '../proxy/proxy-name.js';

export interface ImportForm {
  repo: RepoName;
  tags: Tag[];
}

const MAX_TAGS = 100;

function badForm(message: string, detail?: unknown): RegistryError {
  return new RegistryError('NAME_INVALID', message, detail);
}

/** Validated fields as they arrive. */
class FormFields {
  repo: RepoName | undefined;
  readonly tags: Tag[] = [];

  add(name: string, value: string, truncated: boolean): void {
    if (name !== 'repository' && name !== 'tag') return;
    if (truncated) throw badForm(`form field ${name} is too long`);
    if (name === 'repository') {
      if (this.repo !== undefined) throw badForm('form field repository is given twice');
      const repo = parseRepoName(value.trim());
      if (isProxyName(repo)) throw new RegistryError('DENIED', 'proxy/ is a read-only pull-through cache: import into a name outside proxy/', { name: repo });
      this.repo = repo;
    } else {
      if (this.tags.length >= MAX_TAGS) throw badForm(`at most ${MAX_TAGS} tag fields`);
      const tag = parseTag(value.trim());
      if (!this.tags.includes(tag)) this.tags.push(tag);
    }
  }
}

/**
 * Parses the form and runs `onArchive` on the archive part while it streams; resolves with
 * its result once the whole body is read. The first failure (a bad field, a bad archive, a
 * broken body) rejects, and the rest of the body is no longer read.
 */
export function receiveImport<T>(req: Request, onArchive: (form: ImportForm, archive: Readable) => Promise<T>): Promise<T> {
  const type = baseMediaType(req.headers['content-type']);
  if (type !== 'multipart/form-data') {
    return Promise.reject(
      new RegistryError('UNSUPPORTED', 'send the archive as multipart/form-data (curl -F repository=... -F tag=... -F archive=@file.tar)', { contentType: type ?? null }, 415),
    );
  }
  return new Promise<T>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fieldNameSize: 100, fieldSize: 4096, fields: 200, parts: 1000 } });
    } catch (err) {
      reject(new RegistryError('UNSUPPORTED', `cannot read the multipart body: ${(err as Error).message}`, undefined, 415));
      return;
    }
    const fields = new FormFields();
    let archive: Readable | undefined;
    let work: Promise<T> | undefined;
    let failed = false;
    let parsed = false;

    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      reject(err);
    };
    const settle = (): void => {
      if (failed || !parsed) return;
      if (!work) {
        fail(badForm('the form has no archive file field (curl -F archive=@file.tar)'));
        return;
      }
      work.then(resolve, fail);
    };

    parser.on('field', (name, value, info) => {
      if (failed) return;
      try {
        if (work && (name === 'repository' || name === 'tag')) throw badForm(`form field ${name} comes after the archive file field; send fields first`);
        fields.add(name, value, info.valueTruncated);
      } catch (err) {
        fail(err);
      }
    });
    parser.on('file', (name, stream) => {
      // Errors of the part also reach whoever reads it; this keeps an unread part from crashing the process.
      stream.on('error', () => undefined);
      if (failed || name !== 'archive' || work) {
        stream.resume();
        return;
      }
      if (fields.repo === undefined) {
        stream.resume();
        fail(badForm('form field repository is missing, or comes after the archive file field'));
        return;
      }
      archive = stream;
      try {
        work = onArchive({ repo: fields.repo, tags: [...fields.tags] }, stream);
      } catch (err) {
        stream.resume();
        fail(err);
        return;
      }
      work.catch(fail);
    });
    parser.on('close', () => {
      parsed = true;
      settle();
    });
    parser.on('error', (err: Error) => fail(new RegistryError('BLOB_UPLOAD_INVALID', `malformed multipart body: ${err.message}`)));
    parser.on('partsLimit', () => fail(badForm('the form has too many parts')));
    parser.on('fieldsLimit', () => fail(badForm('the form has too many fields')));
    // A client that goes away mid-body: stop the import (which cancels its upload sessions).
    req.once('close', () => {
      if (req.complete || failed) return;
      const gone = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      archive?.destroy(gone);
      fail(gone);
    });
    req.pipe(parser);
  });
}
