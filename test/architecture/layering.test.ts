/**
 * The layering of .dependency-cruiser.cjs, enforced by the test run: any forbidden import
 * (storage reaching up into registry, http reaching a driver, got outside proxy, a cycle)
 * fails here, with the violations printed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from '@jest/globals';

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

const run = promisify(execFile);

async function violations(): Promise<Violation[]> {
  // depcruise exits non-zero when there are violations; the JSON report is on stdout either way.
  const result = await run('node_modules/.bin/depcruise', ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { maxBuffer: 256 * 1024 * 1024 }).catch(
    (err: { stdout?: string; stderr?: string; message: string }) => {
      if (!err.stdout) throw new Error(`depcruise did not run: ${err.stderr ?? err.message}`);
      return { stdout: err.stdout };
    },
  );
  const report = JSON.parse(result.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  expect(report.summary.totalCruised).toBeGreaterThan(100);
  return report.summary.violations;
}

describe('layering', () => {
  test('no import breaks the layers (http → registry → storage, primitives below, got only in proxy, drivers only from the wiring, no cycles)', async () => {
    const found = (await violations()).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(found).toEqual([]);
  });
});
