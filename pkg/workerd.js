// Cloudflare Workers (workerd) entry point. Compiling wasm bytes at run time is forbidden in
// Workers, so the module is imported pre-compiled: wrangler (and miniflare with a CompiledWasm
// rule) turn this import into a WebAssembly.Module. There is deliberately no fallback that
// compiles bytes. Workers have no process environment: pass `region` and `credentials`
// (from env bindings / secrets) to the constructor.
import wasmModule from './wasm/kinesis_batch_bg.wasm';
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';

initSync({ module: wasmModule });
configureRuntime({});

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
