// Node entry point: loads the wasm synchronously from the package folder.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';
import { environmentFrom } from './env.js';

initSync({ module: readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url)) });
configureRuntime({
  environment: environmentFrom((name) => process.env[name]),
  // Node's SHA-256 (OpenSSL) is several times faster than sha2 in wasm for request bodies.
  sha256: (bytes) => createHash('sha256').update(bytes).digest('hex'),
});

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
