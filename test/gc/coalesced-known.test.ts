import { describe, expect, test } from '@jest/globals';
import { coalescedKnown } from '../../src/gc/coalesced-known.js';

describe('coalescedKnown', () => {
  test("one turn's questions are one query of the distinct digests, each answered for itself", async () => {
    const queries: string[][] = [];
    const known = coalescedKnown(async (digests) => {
      queries.push([...digests]);
      return new Set(digests.filter((d) => d.endsWith('1')));
    });
    const answers = await Promise.all(['d1', 'd2', 'd1', 'd3', 'e1'].map((d) => known(d)));
    expect(answers).toEqual([true, false, true, false, true]);
    expect(queries).toEqual([['d1', 'd2', 'd3', 'e1']]);
    expect(await known('f1')).toBe(true);
    expect(queries).toHaveLength(2);
  });

  test('a failed query fails every question of its turn, and the next turn asks again', async () => {
    let fail = true;
    const known = coalescedKnown(async (digests) => {
      if (fail) throw new Error('index is closed');
      return new Set(digests);
    });
    const answers = await Promise.allSettled([known('a'), known('b')]);
    expect(answers).toEqual([
      { status: 'rejected', reason: new Error('index is closed') },
      { status: 'rejected', reason: new Error('index is closed') },
    ]);
    fail = false;
    expect(await known('a')).toBe(true);
  });
});
