// Browser entry point (also the `default` condition): fetches the wasm next to this file and
// instantiates it with top-level await, so the API is ready once the import resolves. Bundlers
// that understand `new URL(..., import.meta.url)` (Vite, webpack 5, esbuild, Parcel) copy the
// .wasm as an asset. There is no process environment: pass `region` and `credentials`.
import init from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';

await init({ module_or_path: new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url) });
configureRuntime({});

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
