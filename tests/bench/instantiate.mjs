// One fresh process: how long our wasm takes to be ready. Prints JSON:
//   compileMs      new WebAssembly.Module(bytes) (V8 compiles lazily: Liftoff, tier-up later)
//   instantiateMs  initSync({ module }) from the compiled module: imports, start function
//   readMs         reading the .wasm file
// (import-time.mjs times `import` of the whole Node entry in another fresh process.)
//   node instantiate.mjs [--pkg DIR]   (DIR: another build's pkg/ folder; default the repo's)
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { pkg: { type: 'string' } } });
const pkg = values.pkg ? pathToFileURL(`${values.pkg}/`) : new URL('../../pkg/', import.meta.url);
const glue = await import(new URL('wasm/kinesis_batch.js', pkg).href);
const t0 = performance.now();
const bytes = readFileSync(fileURLToPath(new URL('wasm/kinesis_batch_bg.wasm', pkg)));
const t1 = performance.now();
const module = new WebAssembly.Module(bytes);
const t2 = performance.now();
glue.initSync({ module });
const t3 = performance.now();
process.stdout.write(
  `${JSON.stringify({ readMs: t1 - t0, compileMs: t2 - t1, instantiateMs: t3 - t2, totalMs: t3 - t0 })}\n`,
);
