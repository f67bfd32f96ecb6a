// Deno entry point. Reads the wasm from the package folder, so it works from an `npm:` import
// (Deno's npm cache) and from a node_modules install alike. Needs --allow-read for the package
// folder (reading a file is all it does). Region and credentials come from Deno.env when --allow-env
// grants them; without that permission they are simply not read (no prompt).
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';
import { environmentFrom } from './env.js';

function readEnv(name) {
  try {
    if (Deno.permissions.querySync({ name: 'env', variable: name }).state !== 'granted') return undefined;
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

initSync({ module: Deno.readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url)) });
configureRuntime({ environment: environmentFrom(readEnv) });

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
