// NODE_OPTIONS="--import <this file>" with MODULE_LOG_FILE=<file>: every module URL the
// process resolves is appended to that file, one per line (test/cli/keel-cli.test.ts checks
// which drivers a Keel loads). Plain JavaScript: it runs in the child, not under jest.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url, { data: { log: process.env.MODULE_LOG_FILE } });
