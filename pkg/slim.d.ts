// Types for 'kinesis-batch/slim': the whole API plus `init`, which loads the wasm you supply.
export * from './index.js';
import type { Credentials } from './index.js';

/** Anything init() can load the wasm from. In Workers only a WebAssembly.Module works. */
export type WasmSource =
  | WebAssembly.Module
  | ArrayBuffer
  | ArrayBufferView<ArrayBuffer>
  | Response
  | URL
  | string;

export interface InitOptions {
  /** Defaults for region and credentials, read when a dispatcher is created. */
  environment?: () => { region?: string; credentials?: Credentials };
}

/**
 * Loads the wasm. Until it resolves every API call throws KinesisBatchError 'NotInitialized'.
 * Calling it again returns the first call's promise (after a failure, it tries again).
 */
export function init(wasm: WasmSource | Promise<WasmSource>, options?: InitOptions): Promise<void>;
