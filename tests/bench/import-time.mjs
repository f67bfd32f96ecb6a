// One fresh process: time for `import` of the Node entry (pkg/node.js): glue, wrapper, reading,
// compiling and instantiating the wasm. Prints JSON { importMs }.
//   node import-time.mjs [--pkg DIR]   (DIR: another build's pkg/ folder; default the repo's)
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { pkg: { type: 'string' } } });
const entry = values.pkg
  ? pathToFileURL(`${values.pkg}/node.js`).href
  : new URL('../../pkg/node.js', import.meta.url).href;
const t0 = performance.now();
await import(entry);
process.stdout.write(`${JSON.stringify({ importMs: performance.now() - t0 })}\n`);
