// Node entry point: loads the wasm synchronously from the package folder.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';
import { CHAIN_PACKAGE, environmentFrom } from './env.js';

let transport;
const lazyNodeFetch = async (url, init) => {
  transport ??= await import('./node-transport.js');
  return transport.nodeFetch(url, init);
};

initSync({ module: readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url)) });
configureRuntime({
  environment: environmentFrom((name) => process.env[name], {
    readText(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    homeDir: homedir,
    // The AWS default credentials chain (optional dependency), imported on the first send that
    // needs it. The specifier is a variable so that bundlers don't try to pull it in.
    loadChain: () => import(CHAIN_PACKAGE),
  }),
  // http.request costs half what fetch does per request (loaded on the first send); Bun's native
  // fetch is fast already.
  fetch: process.versions.bun ? undefined : lazyNodeFetch,
  // Node's SHA-256 (OpenSSL) is several times faster than sha2 in wasm for request bodies.
  sha256: (bytes) => createHash('sha256').update(bytes).digest('hex'),
});

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
