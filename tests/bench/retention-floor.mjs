// The retention floor of the streaming test: what keeping the submitted payloads costs with no
// library at all. The API returns each submitted value in the report, so a dispatcher must keep
// the payload object until its record ends; with back-pressure on it holds maxBufferedBytes of
// records, i.e. maxBufferedBytes / (data + key bytes) payloads. This loop does only what the
// caller and that retention do: make the event, JSON.stringify it, encode it into a reused
// scratch buffer, keep the object in a FIFO ring of that many slots. No sink, no wasm, no HTTP.
// Run in a fresh process per setting (run.mjs does it):
//   node --expose-gc retention-floor.mjs --max-buffered BYTES [--records N] [--bytes 250]
//        [--slots N]
// --slots: the ring's size instead of floor(maxBufferedBytes / (bytes + 16)).
// Prints JSON in stream-memory.mjs's shape (wasmMB 0), plus the breakdown at the sampled RSS peak
// and the highest V8 heap sampled.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { eventsOf } from './events.mjs';
import { memoryBreakdown } from './memory.mjs';

const { values } = parseArgs({
  options: {
    'max-buffered': { type: 'string' },
    records: { type: 'string', default: '1000000' },
    bytes: { type: 'string', default: '250' },
    slots: { type: 'string' },
  },
});
const maxBufferedBytes = Number(values['max-buffered']);
const records = Number(values.records);
const gen = eventsOf(Number(values.bytes));
// The dispatcher's size of a record: data + partition key (the 16-character id), UTF-8.
const slots = values.slots ? Number(values.slots) : Math.floor(maxBufferedBytes / (gen.bytes + gen.keyBytes));
const rss = () => process.memoryUsage.rss();
const breakdown = () => memoryBreakdown();
let peakSampled = 0;
let peakBreakdown = null;
// The heap's own highs: at the RSS peak a mark-compact may just have emptied the heap while the
// pages are still mapped, so the breakdown there can show a small heap.
const heapPeak = { heapUsedMB: 0, heapTotalMB: 0 };
const sample = () => {
  const b = breakdown();
  heapPeak.heapUsedMB = Math.max(heapPeak.heapUsedMB, b.heapUsedMB);
  heapPeak.heapTotalMB = Math.max(heapPeak.heapTotalMB, b.heapTotalMB);
  if (b.rssMB * 2 ** 20 > peakSampled) {
    peakSampled = b.rssMB * 2 ** 20;
    peakBreakdown = b;
  }
};

// One reused buffer, as the library encodes into its scratch space: the text dies at once.
const encoder = new TextEncoder();
const scratch = new Uint8Array(64 * 1024);
let encodedBytes = 0;
async function stream(from, count, ring, checkpoints) {
  for (let i = from; i < from + count; i++) {
    const payload = gen.make(i);
    encodedBytes += encoder.encodeInto(JSON.stringify(payload), scratch).written;
    ring[i % ring.length] = payload;
    const n = i - from + 1;
    // The library's loop goes back to the event loop while it sends; this one every 500 events,
    // so GC tasks get their turn too.
    if (n % 500 === 0) {
      await new Promise((r) => setImmediate(r));
      sample();
    }
    if (checkpoints && n % (count / 10) === 0) {
      sample();
      checkpoints.push({ records: n, ...breakdown() });
    }
  }
}

// Warm-up (JIT) with a ring of the same size, then dropped, then the baseline.
await stream(0, 20_000, new Array(slots), null);
globalThis.gc?.();
globalThis.gc?.();
const baseline = rss();
const baselineBreakdown = breakdown();
peakSampled = baseline;
peakBreakdown = baselineBreakdown;
heapPeak.heapUsedMB = 0;
heapPeak.heapTotalMB = 0;
encodedBytes = 0;

const checkpoints = [];
const ring = new Array(slots);
const t0 = performance.now();
await stream(0, records, ring, checkpoints);
const seconds = (performance.now() - t0) / 1000;
sample();
if (encodedBytes !== records * gen.bytes) throw new Error(`encoded ${encodedBytes} bytes, not ${records * gen.bytes}`);
process.stdout.write(
  `${JSON.stringify({
    floor: true,
    records,
    maxBufferedBytes,
    recordBytes: gen.bytes + gen.keyBytes,
    slots,
    stuck: false,
    seconds,
    baselineMB: baseline / 2 ** 20,
    baselineBreakdown,
    peakSampledMB: peakSampled / 2 ** 20,
    peakBreakdown,
    heapPeak,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    growthMB: (peakSampled - baseline) / 2 ** 20,
    // Payloads still kept at the end: the ring is full.
    kept: ring.filter(Boolean).length,
    checkpoints,
  })}\n`,
);
