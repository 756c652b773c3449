// Prints one plain closing line, "tests: N passed, N failed, N skipped", after jest's own
// summary, so that CI logs state the outcome in a runner-neutral form.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests, numRuntimeErrorTestSuites } = results;
    const failed = numFailedTests + numRuntimeErrorTestSuites;
    const line = `tests: ${numPassedTests} passed, ${failed} failed, ${numPendingTests + numTodoTests} skipped\n`;
    // jest prints its own summary after the custom reporters; write ours last.
    process.once('exit', () => process.stderr.write(line));
  }
}
