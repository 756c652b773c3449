// Run by heap-headroom.test.ts in a node of its own: allocates 2 GiB in 64 KiB ArrayBuffers
// (what a 1 GiB cold miss allocates) without the headroom, then holding it, with ~16 MB of
// live objects, and prints how many full GCs each ran: {"without":n,"held":n}. Plain
// JavaScript: it runs in the child.
import { constants, PerformanceObserver } from 'node:perf_hooks';

const { V8HeapHeadroom } = await import(process.argv[2]);
let majors = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
});
observer.observe({ entryTypes: ['gc'] });
const live = [];
for (let i = 0; i < 2000; i++) live.push({ values: new Array(1000).fill(i) });

async function allocate() {
  const before = majors;
  for (let i = 0; i < 32768; i++) {
    Buffer.allocUnsafeSlow(65536)[0] = 1;
    if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  // GC entries are delivered after the event loop turns.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return majors - before;
}

const without = await allocate();
const headroom = new V8HeapHeadroom();
const release = headroom.hold();
const held = await allocate();
release();
observer.disconnect();
process.stdout.write(`${JSON.stringify({ without, held, live: live.length })}\n`);
