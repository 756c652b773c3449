// Collects the stop()/remove() calls of everything a test file starts, and runs them all in
// reverse order in afterAll, even when some fail, so one broken daemon does not leave the
// others running. Failures are reported together at the end.
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<void> }[] = [];

  /** Registers `fn`; returns `value` so a start can be wrapped inline. */
  add<T>(name: string, value: T, fn: (value: T) => Promise<void>): T {
    this.steps.push({ name, fn: () => fn(value) });
    return value;
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (e) {
        failures.push(`${step.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
  }
}
