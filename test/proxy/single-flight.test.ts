// SingleFlight: one piece of work per key, and work that left early is never joined again.
import { describe, expect, test } from '@jest/globals';
import { SingleFlight } from '../../src/proxy/single-flight.js';

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('SingleFlight', () => {
  test('a caller asking while the work (and its hold) runs joins it; after the hold it starts new work', async () => {
    const flights = new SingleFlight<string>();
    const held = deferred();
    const first = flights.run('k', () => Promise.resolve('first'), () => held.promise);
    expect(await flights.run('k', () => Promise.resolve('second'))).toBe('first');
    expect(flights.current('k')).toBe(first);
    held.resolve();
    // The hold's end frees the key some microtasks later, all before the next turn of the loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(flights.current('k')).toBeUndefined();
    expect(await flights.run('k', () => Promise.resolve('third'))).toBe('third');
    expect({ started: flights.started, joined: flights.joined }).toEqual({ started: 2, joined: 1 });
  });

  test('work that leaves (it failed) is not joined by a later caller, who starts new work', async () => {
    const flights = new SingleFlight<string>();
    const held = deferred();
    const first: Promise<string> = flights.run('k', () => Promise.resolve('failing'), () => held.promise);
    await first;
    flights.leave('k', first);
    expect(flights.current('k')).toBeUndefined();
    const secondHeld = deferred();
    const second = flights.run('k', () => Promise.resolve('fresh'), () => secondHeld.promise);
    expect(await second).toBe('fresh');
    // The first work's hold ending late must not free the key the new work holds.
    held.resolve();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(flights.current('k')).toBe(second);
    expect(await flights.run('k', () => Promise.resolve('third'))).toBe('fresh');
    secondHeld.resolve();
  });
});
