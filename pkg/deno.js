// Deno entry point; works from an `npm:kinesis-batch` import (Deno's npm cache) and from a
// node_modules install. The wasm comes in through a source phase import, which needs no
// permission; on a Deno without source phase imports it is read from the package folder, which
// needs --allow-read for that folder. Region and credentials come from Deno.env for the variables
// --allow-env grants; the others are simply not read (and never prompted for).
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';
import { environmentFrom } from './env.js';

let wasm;
try {
  ({ default: wasm } = await import('./deno-wasm.js'));
} catch {
  wasm = Deno.readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url));
}
initSync({ module: wasm });

function readEnv(name) {
  try {
    if (Deno.permissions.querySync({ name: 'env', variable: name }).state !== 'granted') return undefined;
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
configureRuntime({ environment: environmentFrom(readEnv) });

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
