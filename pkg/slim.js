// `kinesis-batch/slim`: the caller supplies the wasm. Nothing is loaded on import; until
// `await init(wasm)` resolves, every API call throws KinesisBatchError 'NotInitialized'.
//
// init() takes a WebAssembly.Module (the only choice in Workers), the bytes (ArrayBuffer,
// typed array, Node Buffer), a Response or a Promise of one, or a URL / URL string to fetch.
// The wasm ships as `kinesis-batch/kinesis_batch.wasm`. Nothing is read from the environment:
// pass `region` and `credentials`, or give init() an `environment` function returning
// { region?, credentials? } as its second argument.
import wasmInit from './wasm/kinesis_batch.js';
import { configureRuntime, KinesisBatchError } from './core.js';

let ready = null;

export function init(wasm, options = {}) {
  if (!ready) {
    if (wasm === undefined || wasm === null) {
      return Promise.reject(
        new KinesisBatchError(
          'InvalidOption',
          'init: pass the wasm (a WebAssembly.Module, its bytes, a Response or a URL)',
          { option: 'wasm' },
        ),
      );
    }
    ready = (async () => {
      await wasmInit({ module_or_path: await wasm });
      configureRuntime(typeof options.environment === 'function' ? { environment: options.environment } : {});
    })();
    // A failed init may be retried.
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
