// A producer that never flushes, sending to a stream that does not exist: 1,000,000 records of
// 1 KB through submitPayload with onFailed, against a local server that answers every
// PutRecords with ResourceNotFoundException. The failures stream out through onFailed and the
// dispatcher fails fast, so memory must stay within maxBufferedBytes plus a constant.
//   node --expose-gc missing-stream.mjs [--records N] [--bytes 1024] [--max-buffered BYTES]
// Prints JSON: RSS baseline, peak and growth, requests received, seconds, failures seen.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    bytes: { type: 'string', default: '1024' },
    'max-buffered': { type: 'string', default: String(32 * 2 ** 20) },
  },
});
const records = Number(values.records);
const maxBufferedBytes = Number(values['max-buffered']);
const { KinesisBatchDispatcher } = await import(new URL('../../pkg/node.js', import.meta.url).href);
const { wasmMemory } = await import(new URL('../../pkg/wasm/kinesis_batch.js', import.meta.url).href);

let requests = 0;
const server = createServer((req, res) => {
  requests++;
  req.resume();
  req.on('end', () => {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify({
        __type: 'ResourceNotFoundException',
        message: 'Stream NoSuch under account 000000000000 not found.',
      }),
    );
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${server.address().port}`;

let failures = 0;
const kn = new KinesisBatchDispatcher('NoSuch', {
  region: 'us-east-1',
  endpoint,
  credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' },
  partitionKeyIdentifier: 'id',
  maxBufferedBytes,
  onFailed: (batch) => {
    failures += batch.length;
  },
});

const pad = 'x'.repeat(Math.max(0, Number(values.bytes) - 40));
const event = (i) => ({ id: `k${i % 1000}`, n: i, pad });
globalThis.gc?.();
for (let i = 0; i < 1000; i++) await kn.submitPayload(event(i));
await new Promise((resolve) => setTimeout(resolve, 50));
globalThis.gc?.();
const baseline = process.memoryUsage.rss();
let peak = baseline;
let retained = baseline;
const started = performance.now();
for (let i = 1000; i < records; i++) {
  await kn.submitPayload(event(i));
  if (i % 10_000 === 0) {
    peak = Math.max(peak, process.memoryUsage.rss());
    await new Promise((resolve) => setImmediate(resolve)); // let answers and callbacks in
    if (i % 100_000 === 0) {
      // Retained memory, garbage collected: what the dispatcher holds, not what V8 has yet to free.
      globalThis.gc?.();
      retained = Math.max(retained, process.memoryUsage.rss());
    }
  }
}
const seconds = (performance.now() - started) / 1000;
peak = Math.max(peak, process.memoryUsage.rss());
const report = await kn.flushPayloads();
server.close();
console.log(
  JSON.stringify({
    records,
    recordBytes: Number(values.bytes),
    maxBufferedBytes,
    baselineRssMiB: +(baseline / 2 ** 20).toFixed(1),
    peakRssMiB: +(peak / 2 ** 20).toFixed(1),
    growthMiB: +((peak - baseline) / 2 ** 20).toFixed(1),
    retainedGrowthMiB: +((retained - baseline) / 2 ** 20).toFixed(1),
    budgetMiB: +(maxBufferedBytes / 2 ** 20 + 64).toFixed(1),
    requests,
    seconds: +seconds.toFixed(1),
    failures,
    wasmMemoryMiB: +(wasmMemory().buffer.byteLength / 2 ** 20).toFixed(1),
    heapUsedMiB: +(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1),
    failedCount: report.failedCount,
  }),
);
