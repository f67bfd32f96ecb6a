// Prints the gzipped size (gzip -9, each file on its own, as a browser or a CDN would send it) of
// what each entry point loads: its own file, the wrapper, the wasm-bindgen glue and the wasm.
// Usage: node tests/runtimes/sizes.mjs   (after make build); exits 1 when the Node entry is over budget.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../pkg');
const WASM = 'wasm/kinesis_batch_bg.wasm';
const GLUE = 'wasm/kinesis_batch.js';
const entries = {
  'node (import)': ['node.js', 'node-host.js', 'core.js', 'timers.js', 'env.js', GLUE, WASM],
  'node (require)': ['node.cjs', WASM],
  deno: ['deno.js', 'deno-wasm.js', 'core.js', 'timers.js', 'env.js', GLUE, WASM],
  workerd: ['workerd.js', 'core.js', 'timers.js', GLUE, WASM],
  'browser / default': ['browser.js', 'core.js', 'timers.js', GLUE, WASM],
  'slim (+ the wasm you pass)': ['slim.js', 'core.js', 'timers.js', GLUE],
};

// `gzip -9` where it exists (the budget's measure; Node's zlib comes out about 1% larger on the
// wasm), else Node's zlib at level 9.
const gzipLength = (bytes) => {
  try {
    return execFileSync('gzip', ['-9', '-c'], { input: bytes, maxBuffer: 1 << 26 }).length;
  } catch {
    return gzipSync(bytes, { level: 9 }).length;
  }
};
const size = (file) => {
  const bytes = readFileSync(path.join(pkg, file));
  return { raw: bytes.length, gz: gzipLength(bytes) };
};
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const wasm = size(WASM);
const rows = Object.entries(entries).map(([name, files]) => {
  const sizes = files.map(size);
  const js = sizes.filter((_, i) => files[i] !== WASM);
  return {
    name,
    js: js.reduce((a, s) => a + s.gz, 0),
    total: sizes.reduce((a, s) => a + s.gz, 0),
    raw: sizes.reduce((a, s) => a + s.raw, 0),
  };
});

console.log(`wasm alone: ${kib(wasm.raw)} raw, ${kib(wasm.gz)} gzipped`);
console.log('| entry | JS gzipped | total gzipped (JS + wasm) | total raw |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${kib(r.js)} | ${kib(r.total)} | ${kib(r.raw)} |`);

// The size budget of the Node entry: 100 KiB for the engine, plus 15 KiB for the shard-aware
// features. `make test` fails past it, so that a growth is seen when it lands.
const NODE_BUDGET = 115 * 1024;
const node = rows.find((r) => r.name === 'node (import)');
if (node.total > NODE_BUDGET) {
  console.error(`the Node entry is ${node.total} B gzipped, over its budget of ${NODE_BUDGET} B`);
  process.exitCode = 1;
} else {
  console.log(`Node entry: ${node.total} B gzipped, budget ${NODE_BUDGET} B (${NODE_BUDGET - node.total} B to spare)`);
}
