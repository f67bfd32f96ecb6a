// Streaming memory: 1,000,000 records through kinesis-batch to the local sink, with one
// maxBufferedBytes. Run in a fresh process per setting (run.mjs does it):
//   node --expose-gc stream-memory.mjs --max-buffered BYTES [--records N] [--bytes 250]
//        [--stuck] [--pkg DIR]
// --stuck: the sink never answers the stream's first request until every record has been
// submitted (requestTimeoutMs is an hour, so it never times out): one batch stays in flight for
// the whole stream while the other requests go on. Then it is let through and the flush ends.
// --pkg: another build's pkg/ folder (the "before" build); default the repo's pkg/.
// Prints JSON: the RSS once everything is loaded and warm (baseline), the RSS sampled at every
// request and at each 10% of the stream, and the process's peak RSS (getrusage maxrss). The
// baseline and each checkpoint also break memory down: V8 heap, external memory (wasm memory and
// ArrayBuffers, which live outside the V8 heap) and ArrayBuffers alone.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CREDENTIALS, REGION, STREAM } from './contenders/common.mjs';
import { eventsOf } from './events.mjs';
import { memoryBreakdown } from './memory.mjs';
import { startSink } from './sink-client.mjs';

const { values } = parseArgs({
  options: {
    'max-buffered': { type: 'string' },
    records: { type: 'string', default: '1000000' },
    bytes: { type: 'string', default: '250' },
    stuck: { type: 'boolean', default: false },
    pkg: { type: 'string' },
    // With --stuck: give up waiting for the stream after this many seconds without a record
    // accepted (the dispatcher would be stalled by the stuck request); the JSON then says so.
    'stall-seconds': { type: 'string', default: '60' },
  },
});
const maxBufferedBytes = Number(values['max-buffered']);
const records = Number(values.records);
const stuck = values.stuck;
const gen = eventsOf(Number(values.bytes));
const pkg = values.pkg ? pathToFileURL(`${values.pkg}/`) : new URL('../../pkg/', import.meta.url);
const { KinesisBatchDispatcher } = await import(new URL('node.js', pkg).href);
const { wasmMemory } = await import(new URL('wasm/kinesis_batch.js', pkg).href);
const sink = await startSink();
const rss = () => process.memoryUsage.rss();
const breakdown = () => memoryBreakdown(wasmMemory().buffer.byteLength);
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
  ...(stuck ? { requestTimeoutMs: 3_600_000 } : {}),
};

// --stuck: the first request of the measured stream is held until release().
let held = null;
let heldRequests = 0;
function stuckFetch() {
  let first = true;
  return (url, init) => {
    sample();
    if (!first) return globalThis.fetch(url, init);
    first = false;
    heldRequests++;
    return new Promise((resolve, reject) => {
      held = () => globalThis.fetch(url, init).then(resolve, reject);
    });
  };
}
const release = () => {
  const go = held;
  held = null;
  go?.();
};

let watchdog;
try {
  // Warm-up (JIT, sockets, wasm tier-up), then the baseline.
  const warm = new KinesisBatchDispatcher(STREAM, options);
  for (let i = 0; i < 20_000; i++) await warm.submitPayload(gen.make(i));
  await warm.flushPayloads();
  globalThis.gc?.();
  globalThis.gc?.();
  const baseline = rss();
  const baselineBreakdown = breakdown();
  peakSampled = baseline;
  await sink.reset();

  const kn = new KinesisBatchDispatcher(STREAM, stuck ? { ...options, fetch: stuckFetch() } : options);
  const checkpoints = [];
  let accepted = 0;
  let lastAcceptedAt = performance.now();
  let stalled = null;
  if (stuck) {
    // If the stuck request stops the stream (no record accepted for stall-seconds), say so and
    // let it through, so the run ends.
    watchdog = setInterval(() => {
      if (held && performance.now() - lastAcceptedAt > Number(values['stall-seconds']) * 1000) {
        stalled = { atRecord: accepted, progress: { ...kn.progress } };
        release();
      }
    }, 1000);
  }
  const t0 = performance.now();
  for (let i = 0; i < records; i++) {
    await kn.submitPayload(gen.make(i));
    accepted = i + 1;
    lastAcceptedAt = performance.now();
    if ((i + 1) % (records / 10) === 0) {
      sample();
      const p = kn.progress;
      checkpoints.push({
        records: i + 1,
        ...breakdown(),
        bufferedBytes: p.bufferedBytes,
        sent: p.sent,
        inFlight: p.inFlight,
      });
    }
  }
  // Every record is accepted; the peak so far is the one with a request stuck.
  sample();
  const peakSubmittedMB = peakSampled / 2 ** 20;
  const stillStuck = stuck && held !== null;
  const sentWhileStuck = kn.progress.sent;
  release();
  clearInterval(watchdog);
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
      stuck,
      pkg: values.pkg ?? 'pkg',
      seconds,
      baselineMB: baseline / 2 ** 20,
      baselineBreakdown,
      peakSampledMB: peakSampled / 2 ** 20,
      peakSubmittedMB,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      growthMB: (peakSampled - baseline) / 2 ** 20,
      // --stuck: whether the first request was still unanswered once every record was accepted,
      // how many records had been acknowledged by then, and whether the stream stalled.
      ...(stuck ? { heldRequests, stillStuck, sentWhileStuck, stalled } : {}),
      checkpoints,
    })}\n`,
  );
} finally {
  clearInterval(watchdog);
  sink.stop();
}
