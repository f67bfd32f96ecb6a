// Loaded only by deno.js: a source phase import gives the compiled WebAssembly.Module without
// any file-read permission. Deno versions without source phase imports fail to parse this file,
// and deno.js then reads the bytes itself.
import source wasmModule from './wasm/kinesis_batch_bg.wasm';

export default wasmModule;
