// Node entry point: loads the wasm synchronously from the package folder.
import { readFileSync } from 'node:fs';
import { configureRuntime } from './core.js';
import { nodeRuntime } from './node-host.js';
import { initSync } from './wasm/kinesis_batch.js';

initSync({ module: readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url)) });
configureRuntime(nodeRuntime());

export { KinesisBatchDispatcher, KinesisBatchError, hashKeyOf, planBatches, shardIndexFor } from './core.js';
