// Jest global teardown: removes the private copy of the build that global-setup.js took.
import { rm } from 'node:fs/promises';

export default async function teardown() {
  const root = process.env.TEST_KEEL_BUILD;
  if (root) await rm(root, { recursive: true, force: true });
}
