/**
 * What every index contract suite is given: a fresh, empty index (an IndexSet as the server
 * opens it), a way to open another one on the same database (a second process or replica,
 * for the races), and how to throw both away.
 */
import type { IndexSet } from '../../../src/storage/index-set.js';
import type { ManualClock } from '../../support/manual-clock.js';

export interface IndexUnderTest {
  indexes: IndexSet;
  /** Another IndexSet on the same database, with its own connection(s): closed by cleanup. */
  another(): Promise<IndexSet>;
  clock: ManualClock;
  cleanup(): Promise<void>;
}

export type MakeIndex = () => Promise<IndexUnderTest>;
