// Types of global-teardown.js, for the test that drives its stale-daemon guard.
export function killRecorded(runDir: string): Promise<void>;
export default function teardown(): Promise<void>;
