// `make bench`: every workload in its own process (workload.mjs), then bundle sizes, wasm
// instantiation time and streaming memory. Writes results/latest.json and results/latest.md and
// prints the Markdown.
//
//   node run.mjs [--workloads 1,2,3,4,5,6] [--rounds 3] [--quick] [--skip-stream] [--stream-only]
//
// --stream-only: the streaming memory table alone (no workloads, bundle sizes, instantiation or
// missing stream), for a quick look at memory.
//
// Workloads 5-6 (issue 13) run this package alone, with and without the shard-aware options,
// against a 4-shard sink (sink.mjs --shards 4; workload 6 answers after 20 ms).
//
// --quick divides every record count by 10 (a smoke run; not for BENCHMARKS.md).
//
// KB_BEFORE_PKG=/abs/path/to/other-build/pkg adds that build as the contender
// "kinesis-batch (before)" (contenders/kinesis-batch-before.mjs) in the same processes, rounds
// and rotation as this tree's package, and measures its bundle size, instantiation and
// streaming memory beside ours:  KB_BEFORE_PKG=/tmp/kb-before/pkg make bench
// KB_PKG=/abs/path/pkg measures that copy instead of the repo's pkg/ everywhere (the contenders,
// bundle size, instantiation, streaming): a snapshot that other sessions' rebuilds cannot change
// in the middle of a run.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: '1,2,3,4,5,6' },
    rounds: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    'skip-stream': { type: 'boolean', default: false },
    'skip-workloads': { type: 'boolean', default: false },
    'stream-only': { type: 'boolean', default: false },
  },
});
const streamOnly = values['stream-only'];
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const COUNTS = { 1: 200_000, 2: 200_000, 3: 4_000, 4: 200_000, 5: 200_000, 6: 200_000 };
// Workloads with their own contenders (workload.mjs): this package with and without the
// shard-aware options.
const OWN_CONTENDERS = new Set([5, 6]);
const STREAM_RECORDS = values.quick ? 100_000 : 1_000_000;
const STREAM_BUFFERS = [4 * 2 ** 20, 32 * 2 ** 20];
const BEFORE = process.env.KB_BEFORE_PKG ? path.resolve(process.env.KB_BEFORE_PKG) : null;
if (BEFORE && !existsSync(path.join(BEFORE, 'node.js'))) throw new Error(`KB_BEFORE_PKG: no node.js in ${BEFORE}`);
const CONTENDERS = [
  'baseline',
  'kinesis-batch',
  'kinesis-batch (bulk)',
  ...(BEFORE ? ['kinesis-batch (before)'] : []),
  'aws-sdk',
  'hand-written',
];
// The streaming test: every build measured, and with --stuck one request held for the whole
// stream. The issue's budget: growth ≤ 3 × maxBufferedBytes + 64 MiB, stuck request or not.
const AFTER = process.env.KB_PKG ? path.resolve(process.env.KB_PKG) : path.join(root, 'pkg');
const BUILDS = [
  { name: 'after', pkg: process.env.KB_PKG ? AFTER : null },
  ...(BEFORE ? [{ name: 'before', pkg: BEFORE }] : []),
];
const STREAM_MODES = [false, true];
const pkgArgs = (pkg) => (pkg ? ['--pkg', pkg] : []);
// Other sessions may rebuild pkg/ while the bench runs: fingerprint what it measures.
const fingerprint = (dir) => {
  const h = createHash('sha256');
  for (const f of ['core.js', 'node.js', 'wasm/kinesis_batch.js', 'wasm/kinesis_batch_bg.wasm']) {
    h.update(readFileSync(path.join(dir, f)));
  }
  return h.digest('hex').slice(0, 16);
};

function runNode(args, { timeoutMs = 30 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: here, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`node ${args.join(' ')} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const version = (dir) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
const tryCommand = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const machine = {
  date: new Date().toISOString(),
  cpu: `${os.cpus()[0].model}, ${os.cpus().length} logical cores`,
  memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  loadBefore: os.loadavg().map((x) => +x.toFixed(2)),
};
const versions = {
  'kinesis-batch': version(AFTER),
  '@aws-sdk/client-kinesis': version(path.join(here, 'node_modules/@aws-sdk/client-kinesis')),
  '@smithy/node-http-handler': version(path.join(here, 'node_modules/@smithy/node-http-handler')),
  aws4fetch: version(path.join(here, 'node_modules/aws4fetch')),
  esbuild: version(path.join(here, 'node_modules/esbuild')),
  rustc: tryCommand('rustc', ['--version']),
  'wasm-bindgen': tryCommand('wasm-bindgen', ['--version']),
  'wasm-opt (binaryen)': version(path.join(root, 'tests/node_modules/binaryen')),
  commit: tryCommand('git', ['-C', root, 'describe', '--always', '--dirty']),
  ...(process.env.KB_PKG ? { 'after (KB_PKG)': AFTER } : {}),
  ...(BEFORE
    ? {
        'before (KB_BEFORE_PKG)': `${BEFORE} at ${tryCommand('git', ['-C', BEFORE, 'describe', '--always', '--dirty'])}`,
      }
    : {}),
};
const pkgPrint = { after: fingerprint(AFTER), ...(BEFORE ? { before: fingerprint(BEFORE) } : {}) };

const results = { machine, versions, workloads: [], quick: values.quick, fingerprints: { start: pkgPrint } };

// ---- workloads ---------------------------------------------------------------------------
if (!values['skip-workloads'] && !streamOnly) {
  for (const w of values.workloads.split(',').map(Number)) {
    const count = values.quick ? Math.ceil(COUNTS[w] / 10) : COUNTS[w];
    process.stderr.write(`workload ${w}: ${count} records x ${values.rounds} rounds...\n`);
    const load = os.loadavg()[0];
    const r = await runNode([
      '--expose-gc',
      'workload.mjs',
      '--workload',
      String(w),
      '--count',
      String(count),
      '--rounds',
      values.rounds,
      ...(OWN_CONTENDERS.has(w) ? [] : ['--contenders', CONTENDERS.join(',')]),
    ]);
    r.loadBefore = load;
    r.loadAfter = os.loadavg()[0];
    results.workloads.push(r);
    mkdirSync(path.join(here, 'results'), { recursive: true });
    writeFileSync(path.join(here, `results/workload-${w}.json`), `${JSON.stringify(r, null, 2)}\n`);
  }
}

// ---- bundle sizes --------------------------------------------------------------------------
if (!streamOnly) {
  process.stderr.write('bundle sizes...\n');
  const esbuild = await import('esbuild');
  const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
  // A browser app's import of a build's pkg/ (bundle/kinesis-batch.mjs does it for the repo's).
  const bundleEntry = (dir) => ({
    contents: `export { KinesisBatchDispatcher } from ${JSON.stringify(path.join(dir, 'browser.js'))};`,
    resolveDir: here,
  });
  /** The minified browser bundle of an entry (esbuild `stdin` or `entryPoints`): its bytes, gzipped too. */
  async function bundled(entry) {
    const out = await esbuild.build({
      ...entry,
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const js = out.outputFiles[0].contents;
    return { jsBytes: js.length, jsGzip: gz(js) };
  }
  results.bundles = {};
  for (const name of ['kinesis-batch', 'aws-sdk', 'hand-written']) {
    results.bundles[name] = await bundled(
      name === 'kinesis-batch' && process.env.KB_PKG
        ? { stdin: bundleEntry(AFTER) }
        : { entryPoints: [path.join(here, 'bundle', `${name}.mjs`)] },
    );
  }
  const wasmOf = (dir) => {
    const wasm = readFileSync(path.join(dir, 'wasm/kinesis_batch_bg.wasm'));
    const glue = readFileSync(path.join(dir, 'wasm/kinesis_batch.js'));
    return { wasmBytes: wasm.length, wasmGzip: gz(wasm), glueBytes: glue.length, glueGzip: gz(glue) };
  };
  results.ours = wasmOf(AFTER);
  results.bundles['kinesis-batch'].wasmBytes = results.ours.wasmBytes;
  results.bundles['kinesis-batch'].wasmGzip = results.ours.wasmGzip;
  if (BEFORE) {
    results.oursBefore = wasmOf(BEFORE);
    results.bundles['kinesis-batch (before)'] = {
      ...(await bundled({ stdin: bundleEntry(BEFORE) })),
      wasmBytes: results.oursBefore.wasmBytes,
      wasmGzip: results.oursBefore.wasmGzip,
    };
  }

  // ---- instantiation -------------------------------------------------------------------------
  process.stderr.write('instantiation...\n');
  const inst = Object.fromEntries(BUILDS.map((b) => [b.name, { inst: [], imports: [] }]));
  for (let i = 0; i < 11; i++) {
    // The builds alternate, so both see the same load.
    for (const b of BUILDS) {
      inst[b.name].inst.push(await runNode(['instantiate.mjs', ...pkgArgs(b.pkg)]));
      inst[b.name].imports.push(await runNode(['import-time.mjs', ...pkgArgs(b.pkg)]));
    }
  }
  const instSummary = ({ inst, imports }) => ({
    processes: inst.length,
    compileMs: median(inst.map((x) => x.compileMs)),
    instantiateMs: median(inst.map((x) => x.instantiateMs)),
    readMs: median(inst.map((x) => x.readMs)),
    compilePlusInstantiateMs: median(inst.map((x) => x.compileMs + x.instantiateMs)),
    importMs: median(imports.map((x) => x.importMs)),
  });
  results.instantiation = instSummary(inst.after);
  if (BEFORE) results.instantiationBefore = instSummary(inst.before);
}

// ---- streaming memory ----------------------------------------------------------------------
if (!values['skip-stream']) {
  results.stream = [];
  for (const maxBuffered of STREAM_BUFFERS) {
    for (const stuck of STREAM_MODES) {
      for (const b of BUILDS) {
        process.stderr.write(
          `streaming ${STREAM_RECORDS} records, ${b.name}, maxBufferedBytes ${maxBuffered}${stuck ? ', one request stuck' : ''}...\n`,
        );
        const r = await runNode([
          '--expose-gc',
          'stream-memory.mjs',
          '--max-buffered',
          String(maxBuffered),
          '--records',
          String(STREAM_RECORDS),
          ...(stuck ? ['--stuck'] : []),
          ...pkgArgs(b.pkg),
        ]);
        results.stream.push({ build: b.name, ...r });
      }
    }
    // The retention floor at this setting: the payloads kept, no library (retention-floor.mjs).
    process.stderr.write(`retention floor, ${STREAM_RECORDS} events, maxBufferedBytes ${maxBuffered}...\n`);
    const r = await runNode([
      '--expose-gc',
      'retention-floor.mjs',
      '--max-buffered',
      String(maxBuffered),
      '--records',
      String(STREAM_RECORDS),
    ]);
    results.stream.push({ build: 'floor: payloads kept, no library', ...r });
  }
}
// ---- a producer that never flushes, to a stream that does not exist --------------------------
if (!values['skip-stream'] && !streamOnly) {
  results.missingStream = [];
  for (const maxBuffered of STREAM_BUFFERS) {
    process.stderr.write(`${STREAM_RECORDS} records of 1 KB to a missing stream, maxBufferedBytes ${maxBuffered}...\n`);
    const r = await runNode([
      '--expose-gc',
      'missing-stream.mjs',
      '--records',
      String(STREAM_RECORDS),
      '--max-buffered',
      String(maxBuffered),
    ]);
    results.missingStream.push(r);
  }
}
machine.loadAfter = os.loadavg().map((x) => +x.toFixed(2));
results.fingerprints.end = {
  after: fingerprint(AFTER),
  ...(BEFORE ? { before: fingerprint(BEFORE) } : {}),
};
const changed = Object.keys(pkgPrint).filter((k) => pkgPrint[k] !== results.fingerprints.end[k]);
if (changed.length) process.stderr.write(`WARNING: the package changed during the run: ${changed.join(', ')}\n`);

// ---- report --------------------------------------------------------------------------------
const f = (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const MiB = 2 ** 20;
const fk = (x) => (x >= 10_000 ? `${f(x / 1000)}k` : f(x));
const lines = [];
lines.push(`Run ${machine.date}${values.quick ? ' (QUICK: counts / 10, not for the record)' : ''}`);
if (changed.length)
  lines.push(`WARNING: the package (${changed.join(', ')}) was rebuilt during the run; results mix builds.`);
lines.push(
  `Machine: ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; load average (1/5/15 min) before ${machine.loadBefore.join(' / ')}, after ${machine.loadAfter.join(' / ')}`,
);
lines.push(
  `Versions: ${Object.entries(versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
lines.push('');
const TARGETS = {
  1: { 'aws-sdk': 2, 'hand-written': 1 },
  2: { 'aws-sdk': 2, 'hand-written': 1 },
  3: { 'hand-written': 1 / 1.5 },
  4: { 'aws-sdk': 2, 'hand-written': 1 },
};
// Workloads 5-6: what the stream saw, counted at the sink, beside the throughput.
const span = (runs, get, d = 0) => {
  const xs = runs.map((x) => +get(x).toFixed(d));
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? f(lo, d) : `${f(lo, d)}–${f(hi, d)}`;
};
function shardTable(w) {
  const s = w.summary;
  const plain = s['kinesis-batch'];
  const out = [];
  out.push(`### Workload ${w.workload}: ${w.title}`);
  out.push('');
  out.push(
    `${f(w.count)} records of ${f(w.bytes)} B JSON, partition key \`id\` (16 B) taking ${f(w.keys)} values in turn; sink: ${w.shards} shards, answers after ${w.latencyMs} ms. Medians of ${w.rounds} rounds (contender order rotated each round; a full-size warm-up round first). 1-min load average ${w.loadBefore.toFixed(2)} → ${w.loadAfter.toFixed(2)}. Requests, records, units and bytes counted at the sink (a range: they differed between rounds).`,
  );
  out.push('');
  out.push(
    '| contender | records/s (slowest–fastest round) | vs kinesis-batch | CPU ms / 10k records | PutRecords requests | Kinesis records | of them aggregates | 25 KB PUT payload units | data + key MB | ListShards + DescribeStreamSummary | PutRecords open at once (mean; most) |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(s)) {
    const rates = r.runs.map((x) => w.count / (x.wallMs / 1000));
    const ratio = name === 'kinesis-batch' ? '' : `${(r.recordsPerSec / plain.recordsPerSec).toFixed(2)}×`;
    const at = (get) => span(r.runs, (x) => get(x.atSink));
    out.push(
      `| ${name} | ${f(r.recordsPerSec)} (${fk(Math.min(...rates))}–${fk(Math.max(...rates))}) | ${ratio} | ${f(r.cpuMsPer10k, 1)} | ${at((a) => a.putRecords)} | ${at((a) => a.kinesisRecords)} | ${at((a) => a.aggregates)} | ${at((a) => a.units)} | ${span(r.runs, (x) => x.atSink.dataBytes / 1e6, 2)} | ${at((a) => a.control.ListShards ?? 0)} + ${at((a) => a.control.DescribeStreamSummary ?? 0)} | ${f(median(r.runs.map((x) => x.atSink.meanOpen)), 1)}; ${at((a) => a.maxOpen)} |`,
    );
  }
  out.push('');
  return out;
}
for (const w of results.workloads) {
  if (OWN_CONTENDERS.has(w.workload)) {
    lines.push(...shardTable(w));
    continue;
  }
  const s = w.summary;
  lines.push(`### Workload ${w.workload}: ${w.title}`);
  lines.push('');
  lines.push(
    `${f(w.count)} records of ${f(w.bytes)} B JSON; medians of ${w.rounds} rounds (contender order rotated each round; a warm-up round first). 1-min load average ${w.loadBefore.toFixed(2)} → ${w.loadAfter.toFixed(2)}.`,
  );
  lines.push('');
  const peers = ['aws-sdk', 'hand-written', ...(s['kinesis-batch (before)'] ? ['kinesis-batch (before)'] : [])];
  lines.push(
    `| contender | records/s (slowest–fastest round) | MB/s | CPU ms / 10k records | peak RSS MiB (growth) | requests | ${peers.map((p) => `vs ${p}`).join(' | ')} |`,
  );
  lines.push(`|---|---:|---:|---:|---:|---:|${peers.map(() => '---:|').join('')}`);
  for (const [name, r] of Object.entries(s)) {
    const ratio = (peer) =>
      s[peer] && name !== 'baseline' && name !== peer ? `${(r.recordsPerSec / s[peer].recordsPerSec).toFixed(2)}×` : '';
    const rates = r.runs.map((x) => w.count / (x.wallMs / 1000));
    lines.push(
      `| ${name} | ${f(r.recordsPerSec)} (${fk(Math.min(...rates))}–${fk(Math.max(...rates))}) | ${f(r.mbPerSec, 1)} | ${f(r.cpuMsPer10k, 1)} | ${f(r.peakRssMB)} (+${f(r.rssGrowthMB)}) | ${r.requests} | ${peers.map(ratio).join(' | ')} |`,
    );
  }
  const ours = s['kinesis-batch'];
  const targets = Object.entries(TARGETS[w.workload]).map(([peer, want]) => {
    const got = ours.recordsPerSec / s[peer].recordsPerSec;
    return `${peer} ≥ ${want.toFixed(2)}×: ${got.toFixed(2)}× ${got >= want ? 'met' : 'MISSED'}`;
  });
  lines.push('');
  lines.push(`Targets (kinesis-batch, submitPayload): ${targets.join('; ')}.`);
  lines.push('');
}
// Not measured with --stream-only.
if (results.bundles) {
  const b = results.bundles;
  lines.push('### Bundle size (esbuild --bundle --minify, platform browser, gzip -9)');
  lines.push('');
  lines.push('| contender | JS min | JS gz | wasm | wasm gz | total gz |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(b)) {
    lines.push(
      `| ${name} | ${f(r.jsBytes)} | ${f(r.jsGzip)} | ${r.wasmBytes ? f(r.wasmBytes) : ''} | ${r.wasmGzip ? f(r.wasmGzip) : ''} | ${f(r.jsGzip + (r.wasmGzip ?? 0))} |`,
    );
  }
  const shipped = (label, o) =>
    `${label} wasm + wasm-bindgen glue as shipped: ${f(o.wasmBytes)} B (${f(o.wasmGzip)} gz) + ${f(o.glueBytes)} B (${f(o.glueGzip)} gz) = ${f(o.wasmGzip + o.glueGzip)} B gz; target ≤ 40,960: ${o.wasmGzip + o.glueGzip <= 40960 ? 'met' : 'MISSED'}.`;
  lines.push('');
  lines.push(shipped('Our', results.ours));
  if (results.oursBefore) {
    lines.push('');
    lines.push(shipped('Before (KB_BEFORE_PKG):', results.oursBefore));
  }
  lines.push('');
  const instLine = (label, i) =>
    `${label}Compile ${f(i.compileMs, 2)} ms + instantiate ${f(i.instantiateMs, 2)} ms = ${f(i.compilePlusInstantiateMs, 2)} ms (target ≤ 5: ${i.compilePlusInstantiateMs <= 5 ? 'met' : 'MISSED'}); reading the file ${f(i.readMs, 2)} ms; \`import\` of the whole Node entry ${f(i.importMs, 1)} ms.`;
  lines.push(`### Instantiation (median of ${results.instantiation.processes} fresh processes)`);
  lines.push('');
  lines.push(instLine(results.instantiationBefore ? 'After: ' : '', results.instantiation));
  if (results.instantiationBefore) {
    lines.push('');
    lines.push(instLine('Before: ', results.instantiationBefore));
  }
  lines.push('');
}
if (results.stream) {
  lines.push(`### Streaming ${f(STREAM_RECORDS)} records (~250 B) to the sink, maxInFlight 4`);
  lines.push('');
  lines.push(
    '"one stuck": the sink does not answer the stream\'s first request until every record is accepted (requestTimeoutMs 1 h). Budget: growth ≤ 3 × maxBufferedBytes + 64 MiB.',
  );
  lines.push('');
  lines.push(
    '| build | requests | maxBufferedBytes | baseline RSS MiB | peak RSS MiB | growth MiB | budget MiB | growth / maxBufferedBytes | RSS at 10% … 100% (MiB) | seconds |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const r of results.stream) {
    const budget = (3 * r.maxBufferedBytes) / MiB + 64;
    const mode = r.floor
      ? '—'
      : r.stuck
        ? `one stuck${r.stalled ? ` (STALLED at ${f(r.stalled.atRecord)})` : r.stillStuck ? '' : ' (not held to the end)'}`
        : 'all answered';
    lines.push(
      `| ${r.build} | ${mode} | ${f(r.maxBufferedBytes / MiB)} MiB | ${f(r.baselineMB)} | ${f(r.peakSampledMB)} | ${f(r.growthMB)} | ${f(budget)} ${r.growthMB <= budget ? 'met' : 'MISSED'} | ${(r.growthMB / (r.maxBufferedBytes / MiB)).toFixed(1)} | ${r.checkpoints.map((c) => f(c.rssMB)).join(' ')} | ${f(r.seconds, 1)} |`,
    );
  }
  lines.push('');
  const floor = results.stream.find((r) => r.floor);
  if (floor) {
    lines.push(
      `"floor": no library, no HTTP: each event made, \`JSON.stringify\`-ed and encoded into one reused buffer, and the payload object kept in a FIFO ring of maxBufferedBytes / ${floor.recordBytes} B (data + key) slots: the records held once back-pressure is on, whose submitted values the report returns. It is the growth any build that keeps them starts from.`,
    );
    lines.push('');
  }
}
if (results.missingStream) {
  lines.push(`### A producer that never flushes, to a missing stream: ${f(STREAM_RECORDS)} records of 1 KB, onFailed`);
  lines.push('');
  lines.push(
    '| maxBufferedBytes | requests sent | baseline RSS MiB | peak RSS MiB | growth MiB | wasm memory MiB | seconds | failures streamed |',
  );
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results.missingStream) {
    lines.push(
      `| ${f(r.maxBufferedBytes / MiB)} MiB | ${f(r.requests)} | ${f(r.baselineRssMiB, 1)} | ${f(r.peakRssMiB, 1)} | ${f(r.growthMiB, 1)} | ${f(r.wasmMemoryMiB, 1)} | ${f(r.seconds, 1)} | ${f(r.failures)} |`,
    );
  }
  lines.push('');
}
const md = lines.join('\n');
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(path.join(here, 'results/latest.md'), `${md}\n`);
process.stdout.write(`${md}\n`);
