/**
 * Keel's layering, checked in the test run (test/architecture/layering.test.ts):
 * http → registry → storage one way, shared primitives below everything, proxy the only
 * code speaking to other registries, concrete storage drivers only reachable from the wiring.
 */
/** Storage files that are contracts (interfaces, typed errors), not implementations. */
const STORAGE_INTERFACES = '^src/storage/(blob-store|upload-store|backend|storage-errors|registry-index|proxy-index|browse-index|proxy-browse-index|store-stats|disk-full-watch)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Cycles make the layers meaningless.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'primitives-import-nothing-of-keel',
      severity: 'error',
      comment: 'src/primitives holds primitives (digests, names, errors, clock) below every layer.',
      from: { path: '^src/primitives/' },
      to: { path: '^src/', pathNot: '^src/primitives/' },
    },
    {
      name: 'storage-imports-only-primitives',
      severity: 'error',
      comment: 'Storage is the bottom layer: it knows shared primitives and itself.',
      from: { path: '^src/storage/' },
      to: { path: '^src/', pathNot: '^src/(primitives|storage)/' },
    },
    {
      name: 'registry-imports-primitives-and-storage-interfaces',
      severity: 'error',
      comment: 'The registry codes against storage contracts, never a driver or SQLite.',
      from: { path: '^src/registry/' },
      to: { path: '^src/', pathNot: [`^src/(primitives|registry)/`, STORAGE_INTERFACES] },
    },
    {
      name: 'http-no-storage-implementations',
      severity: 'error',
      comment: 'http never touches files or SQL: it reaches storage through registry and the contracts.',
      from: { path: '^src/http/' },
      to: { path: '^src/storage/', pathNot: STORAGE_INTERFACES },
    },
    {
      name: 'only-proxy-imports-got',
      severity: 'error',
      comment: 'proxy/ is the only code talking to other registries.',
      from: { path: '^src/', pathNot: '^src/proxy/' },
      // Unanchored: node_modules may be a symlink that resolves outside the worktree.
      to: { path: '(^|/)node_modules/got/' },
    },
    {
      name: 'concrete-backends-only-from-the-wiring',
      severity: 'error',
      comment: 'A storage driver is chosen in one place (storage/backends.ts, used by services.ts).',
      from: {
        path: '^src/',
        pathNot: [
          '^src/storage/backends\\.ts$',
          '^src/storage/(fs|s3)/',
        ],
      },
      to: { path: '^src/storage/(fs|s3)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
