// The process's memory, broken down, in MiB: V8 heap, external memory (wasm memory and
// ArrayBuffers live outside the V8 heap), ArrayBuffers alone, and the wasm memory passed in.
const MiB = 2 ** 20;

export function memoryBreakdown(wasmBytes = 0) {
  const m = process.memoryUsage();
  return {
    rssMB: m.rss / MiB,
    heapUsedMB: m.heapUsed / MiB,
    heapTotalMB: m.heapTotal / MiB,
    externalMB: m.external / MiB,
    arrayBuffersMB: m.arrayBuffers / MiB,
    wasmMB: wasmBytes / MiB,
  };
}
