// Streaming memory: 1,000,000 records through kinesis-batch to the local sink, with one
// maxBufferedBytes. Run in a fresh process per setting (run.mjs does it):
//   node --expose-gc stream-memory.mjs --max-buffered BYTES [--records N] [--bytes 250]
// Prints JSON: the RSS once everything is loaded and warm (baseline), the RSS sampled at every
// request and at each 10% of the stream, and the process's peak RSS (getrusage maxrss).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { eventsOf } from './events.mjs';
import { startSink } from './sink-client.mjs';
import { CREDENTIALS, REGION, STREAM } from './contenders/common.mjs';

const { values } = parseArgs({
  options: {
    'max-buffered': { type: 'string' },
    records: { type: 'string', default: '1000000' },
    bytes: { type: 'string', default: '250' },
  },
});
const maxBufferedBytes = Number(values['max-buffered']);
const records = Number(values.records);
const gen = eventsOf(Number(values.bytes));
const { KinesisBatchDispatcher } = await import('../../pkg/node.js');
const { wasmMemory } = await import('../../pkg/wasm/kinesis_batch.js');
const sink = await startSink();
const rss = () => process.memoryUsage.rss();
let peakSampled = 0;
const sample = () => {
  const r = rss();
  if (r > peakSampled) peakSampled = r;
};
const fetch = (url, init) => {
  sample();
  return globalThis.fetch(url, init);
};
const options = {
  region: REGION,
  endpoint: sink.url,
  credentials: CREDENTIALS,
  fetch,
  partitionKeyIdentifier: 'id',
  maxInFlight: 4,
  maxBufferedBytes,
};

try {
  // Warm-up (JIT, sockets, wasm tier-up), then the baseline.
  const warm = new KinesisBatchDispatcher(STREAM, options);
  for (let i = 0; i < 20_000; i++) await warm.submitPayload(gen.make(i));
  await warm.flushPayloads();
  globalThis.gc?.();
  globalThis.gc?.();
  const baseline = rss();
  peakSampled = baseline;
  await sink.reset();

  const kn = new KinesisBatchDispatcher(STREAM, options);
  const checkpoints = [];
  const t0 = performance.now();
  for (let i = 0; i < records; i++) {
    await kn.submitPayload(gen.make(i));
    if ((i + 1) % (records / 10) === 0) {
      sample();
      const m = process.memoryUsage();
      checkpoints.push({
        records: i + 1,
        rssMB: m.rss / 2 ** 20,
        heapUsedMB: m.heapUsed / 2 ** 20,
        heapTotalMB: m.heapTotal / 2 ** 20,
        wasmMB: wasmMemory().buffer.byteLength / 2 ** 20,
        bufferedBytes: kn.progress.bufferedBytes,
      });
    }
  }
  const report = await kn.flushPayloads();
  const seconds = (performance.now() - t0) / 1000;
  sample();
  const stats = await sink.stats();
  if (report.sent !== records || stats.records !== records)
    throw new Error(`sent ${report.sent}, sink took ${stats.records} of ${records}`);
  process.stdout.write(
    `${JSON.stringify({
      records,
      maxBufferedBytes,
      seconds,
      baselineMB: baseline / 2 ** 20,
      peakSampledMB: peakSampled / 2 ** 20,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      growthMB: (peakSampled - baseline) / 2 ** 20,
      checkpoints,
    })}\n`,
  );
} finally {
  sink.stop();
}
