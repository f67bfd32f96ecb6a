// One fresh process: time for `import` of the Node entry (pkg/node.js): glue, wrapper, reading,
// compiling and instantiating the wasm. Prints JSON { importMs }.
import { performance } from 'node:perf_hooks';

const t0 = performance.now();
await import('../../pkg/node.js');
process.stdout.write(`${JSON.stringify({ importMs: performance.now() - t0 })}\n`);
