/** The storage contract suites on the filesystem driver. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsBackend } from '../../src/storage/fs/fs-backend.js';
import type { MakeBackend } from './contract/backend-factory.js';
import { blobStoreContract } from './contract/blob-store.contract.js';
import { uploadStoreContract } from './contract/upload-store.contract.js';

const makeFs: MakeBackend = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-fs-backend-'));
  return {
    backend: createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
};

blobStoreContract('filesystem', makeFs, { redirects: false });
uploadStoreContract('filesystem', makeFs);
