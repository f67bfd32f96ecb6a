// One workload, every contender, in this one process (make bench starts one per workload).
//
//   node --expose-gc workload.mjs --workload 1 [--count N] [--rounds R] [--contenders a,b,c]
//
// Each round runs every contender once, the order rotating from round to round; a short
// warm-up round comes first and is not counted. For each run: wall time, process CPU
// (user + system, every thread: GC, libuv's pool for WebCrypto), and RSS sampled at every
// request and at the end. Prints one JSON object on stdout.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { eventsOf, recordJsonLength } from './events.mjs';
import { cannedAnswers } from './noop.mjs';
import { startSink } from './sink-client.mjs';

export const WORKLOADS = {
  1: { title: 'pack + sign, ~250 B events, no-op transport', bytes: 250, count: 200_000, transport: 'noop' },
  2: { title: 'pack + sign, 2 KB events, no-op transport', bytes: 2048, count: 200_000, transport: 'noop' },
  3: { title: 'pack + sign, 100 KB events, no-op transport', bytes: 102_400, count: 4_000, transport: 'noop' },
  4: {
    title: 'end to end, ~250 B events, local sink over HTTP, maxInFlight 4',
    bytes: 250,
    count: 200_000,
    transport: 'sink',
  },
  // Issue 13. The same 200,000 events, their key `id` one of 1,000 (events.mjs), to a sink of 4
  // shards with real ShardIds, ListShards and DescribeStreamSummary (sink.mjs --shards 4).
  5: {
    title: 'shard-aware: aggregation off and on, ~250 B events, 1,000 keys, 4-shard sink over HTTP, maxInFlight 4',
    bytes: 250,
    count: 200_000,
    transport: 'sink',
    keys: 1000,
    shards: 4,
    latencyMs: 0,
    fullWarmup: true,
    contenders: ['kinesis-batch', 'kinesis-batch (aggregate)'],
  },
  6: {
    title: "shard-aware: ordering's cost, ~250 B events, 1,000 keys, 4-shard sink answering after 20 ms, maxInFlight 4",
    bytes: 250,
    count: 200_000,
    transport: 'sink',
    keys: 1000,
    shards: 4,
    latencyMs: 20,
    fullWarmup: true,
    contenders: [
      'kinesis-batch',
      'kinesis-batch (aggregate)',
      'kinesis-batch (ordered)',
      'kinesis-batch (ordered, aggregate)',
    ],
  },
};
const shardVariant = (name) => async () => ({
  run: (await import('./contenders/kinesis-batch-shard.mjs')).VARIANTS[name],
});

const CONTENDERS = {
  baseline: () => import('./contenders/baseline.mjs'),
  'kinesis-batch': () => import('./contenders/kinesis-batch.mjs'),
  'kinesis-batch (bulk)': () => import('./contenders/kinesis-batch-bulk.mjs'),
  // The build from before a change (KB_BEFORE_PKG); run.mjs adds it when that is set.
  'kinesis-batch (before)': () => import('./contenders/kinesis-batch-before.mjs'),
  'aws-sdk': () => import('./contenders/aws-sdk.mjs'),
  'hand-written': () => import('./contenders/handwritten.mjs'),
  // Development: two other builds of the package side by side (KB_PKG_A, KB_PKG_B).
  'kb-A': () => import('./contenders/kinesis-batch.mjs?A'),
  'kb-B': () => import('./contenders/kinesis-batch.mjs?B'),
  'kb-A (bulk)': () => import('./contenders/kinesis-batch-bulk.mjs?A'),
  'kb-B (bulk)': () => import('./contenders/kinesis-batch-bulk.mjs?B'),
  // Workloads 5-6: the shard-aware options (contenders/kinesis-batch-shard.mjs).
  'kinesis-batch (aggregate)': shardVariant('kinesis-batch (aggregate)'),
  'kinesis-batch (ordered)': shardVariant('kinesis-batch (ordered)'),
  'kinesis-batch (ordered, aggregate)': shardVariant('kinesis-batch (ordered, aggregate)'),
};

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({
  options: {
    workload: { type: 'string' },
    count: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    // Default: the workload's own list (workloads 5-6), else every contender.
    contenders: { type: 'string' },
  },
});
const spec = WORKLOADS[values.workload];
if (!spec) throw new Error(`--workload ${Object.keys(WORKLOADS).join('|')}`);
const count = Number(values.count ?? spec.count);
const rounds = Number(values.rounds);
const names = values.contenders?.split(',') ?? spec.contenders ?? Object.keys(CONTENDERS);
const gen = eventsOf(spec.bytes, { keys: spec.keys });
const gc = globalThis.gc ?? (() => {});

const contenders = [];
for (const name of names) {
  if (!CONTENDERS[name]) throw new Error(`unknown contender ${name}`);
  contenders.push({ name, module: await CONTENDERS[name]() });
}

let sink = null;
let target;
if (spec.transport === 'noop') {
  target = { answers: cannedAnswers(recordJsonLength(spec.bytes, gen.keyBytes)) };
} else {
  sink = await startSink({ shards: spec.shards, latencyMs: spec.latencyMs });
  target = { url: sink.url };
}

async function measure(contender, n) {
  gc();
  gc();
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const onRequest = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  };
  if (sink) await sink.reset();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { requests } = await contender.module.run({ gen, count: n, target, onRequest, maxInFlight: 4 });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  onRequest();
  let atSink;
  if (sink && requests > 0) {
    const s = await sink.stats();
    if (s.records !== n || s.rejected !== 0)
      throw new Error(`${contender.name}: the sink took ${s.records} of ${n} records, rejected ${s.rejected} requests`);
    // What the stream saw (workloads 5-6): PutRecords requests, Kinesis records, aggregates,
    // 25 KB PUT payload units, data + key bytes, control-plane calls, and how many PutRecords
    // were open at the sink at once (the most; the mean over the run's wall time).
    if (spec.shards) {
      const { requests: putRecords, kinesisRecords, aggregates, units, dataBytes, control, maxOpen, openMs } = s;
      atSink = {
        putRecords,
        kinesisRecords,
        aggregates,
        units,
        dataBytes,
        control,
        maxOpen,
        meanOpen: openMs / wallMs,
      };
    }
  }
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, rssBefore, rssPeak: peak, requests, atSink };
}

const results = Object.fromEntries(contenders.map((c) => [c.name, []]));
try {
  // Warm-up: JIT, wasm tier-up, sockets. Workloads 5-6 warm up at full size: a process's first
  // full aggregated run grows the wasm memory (to about 180 MiB) and is 2-3 times slower.
  const warmup = spec.fullWarmup ? count : Math.max(1, Math.floor(count / 10));
  for (const c of contenders) await measure(c, warmup);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + r) % contenders.length];
      results[c.name].push(await measure(c, count));
    }
  }
} finally {
  sink?.stop();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = {};
for (const [name, runs] of Object.entries(results)) {
  const wallMs = median(runs.map((x) => x.wallMs));
  const cpuMs = median(runs.map((x) => x.cpuMs));
  summary[name] = {
    recordsPerSec: count / (wallMs / 1000),
    mbPerSec: (count * spec.bytes) / 1e6 / (wallMs / 1000),
    cpuMsPer10k: (cpuMs / count) * 10_000,
    wallMs,
    cpuMs,
    peakRssMB: median(runs.map((x) => x.rssPeak)) / 2 ** 20,
    rssGrowthMB: median(runs.map((x) => x.rssPeak - x.rssBefore)) / 2 ** 20,
    requests: runs[0].requests,
    ...(runs[0].atSink ? { atSink: runs[0].atSink } : {}),
    runs,
  };
}
process.stdout.write(
  `${JSON.stringify({ workload: Number(values.workload), ...spec, count, rounds, summary, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
);
