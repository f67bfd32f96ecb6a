// `make bench`: every workload in its own process (workload.mjs), then bundle sizes, wasm
// instantiation time and streaming memory. Writes results/latest.json and results/latest.md and
// prints the Markdown.
//
//   node run.mjs [--workloads 1,2,3,4] [--rounds 3] [--quick] [--skip-stream]
//
// --quick divides every record count by 10 (a smoke run; not for BENCHMARKS.md).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: '1,2,3,4' },
    rounds: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    'skip-stream': { type: 'boolean', default: false },
    'skip-workloads': { type: 'boolean', default: false },
  },
});
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const COUNTS = { 1: 200_000, 2: 200_000, 3: 4_000, 4: 200_000 };
const STREAM_RECORDS = values.quick ? 100_000 : 1_000_000;
const STREAM_BUFFERS = [4 * 2 ** 20, 32 * 2 ** 20];
const CONTENDERS = ['baseline', 'kinesis-batch', 'kinesis-batch (bulk)', 'aws-sdk', 'hand-written'];

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
  'kinesis-batch': version(path.join(root, 'pkg')),
  '@aws-sdk/client-kinesis': version(path.join(here, 'node_modules/@aws-sdk/client-kinesis')),
  '@smithy/node-http-handler': version(path.join(here, 'node_modules/@smithy/node-http-handler')),
  aws4fetch: version(path.join(here, 'node_modules/aws4fetch')),
  esbuild: version(path.join(here, 'node_modules/esbuild')),
  rustc: tryCommand('rustc', ['--version']),
  'wasm-bindgen': tryCommand('wasm-bindgen', ['--version']),
  'wasm-opt (binaryen)': version(path.join(root, 'tests/node_modules/binaryen')),
};

const results = { machine, versions, workloads: [], quick: values.quick };

// ---- workloads ---------------------------------------------------------------------------
if (!values['skip-workloads']) {
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
      '--contenders',
      CONTENDERS.join(','),
    ]);
    r.loadBefore = load;
    r.loadAfter = os.loadavg()[0];
    results.workloads.push(r);
    mkdirSync(path.join(here, 'results'), { recursive: true });
    writeFileSync(path.join(here, `results/workload-${w}.json`), `${JSON.stringify(r, null, 2)}\n`);
  }
}

// ---- bundle sizes --------------------------------------------------------------------------
process.stderr.write('bundle sizes...\n');
const esbuild = await import('esbuild');
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
results.bundles = {};
for (const name of ['kinesis-batch', 'aws-sdk', 'hand-written']) {
  const out = await esbuild.build({
    entryPoints: [path.join(here, 'bundle', `${name}.mjs`)],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const js = out.outputFiles[0].contents;
  results.bundles[name] = { jsBytes: js.length, jsGzip: gz(js) };
}
const wasm = readFileSync(path.join(root, 'pkg/wasm/kinesis_batch_bg.wasm'));
const glue = readFileSync(path.join(root, 'pkg/wasm/kinesis_batch.js'));
results.bundles['kinesis-batch'].wasmBytes = wasm.length;
results.bundles['kinesis-batch'].wasmGzip = gz(wasm);
results.ours = { wasmBytes: wasm.length, wasmGzip: gz(wasm), glueBytes: glue.length, glueGzip: gz(glue) };

// ---- instantiation -------------------------------------------------------------------------
process.stderr.write('instantiation...\n');
const inst = [];
const imports = [];
for (let i = 0; i < 11; i++) {
  inst.push(await runNode(['instantiate.mjs']));
  imports.push(await runNode(['import-time.mjs']));
}
results.instantiation = {
  processes: inst.length,
  compileMs: median(inst.map((x) => x.compileMs)),
  instantiateMs: median(inst.map((x) => x.instantiateMs)),
  readMs: median(inst.map((x) => x.readMs)),
  compilePlusInstantiateMs: median(inst.map((x) => x.compileMs + x.instantiateMs)),
  importMs: median(imports.map((x) => x.importMs)),
};

// ---- streaming memory ----------------------------------------------------------------------
if (!values['skip-stream']) {
  results.stream = [];
  for (const maxBuffered of STREAM_BUFFERS) {
    process.stderr.write(`streaming ${STREAM_RECORDS} records, maxBufferedBytes ${maxBuffered}...\n`);
    results.stream.push(
      await runNode([
        '--expose-gc',
        'stream-memory.mjs',
        '--max-buffered',
        String(maxBuffered),
        '--records',
        String(STREAM_RECORDS),
      ]),
    );
  }
}
machine.loadAfter = os.loadavg().map((x) => +x.toFixed(2));

// ---- report --------------------------------------------------------------------------------
const f = (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const MiB = 2 ** 20;
const fk = (x) => (x >= 10_000 ? `${f(x / 1000)}k` : f(x));
const lines = [];
lines.push(`Run ${machine.date}${values.quick ? ' (QUICK: counts / 10, not for the record)' : ''}`);
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
for (const w of results.workloads) {
  const s = w.summary;
  lines.push(`### Workload ${w.workload}: ${w.title}`);
  lines.push('');
  lines.push(
    `${f(w.count)} records of ${f(w.bytes)} B JSON; medians of ${w.rounds} rounds (contender order rotated each round; a warm-up round first). 1-min load average ${w.loadBefore.toFixed(2)} → ${w.loadAfter.toFixed(2)}.`,
  );
  lines.push('');
  lines.push(
    '| contender | records/s (slowest–fastest round) | MB/s | CPU ms / 10k records | peak RSS MiB (growth) | requests | vs aws-sdk | vs hand-written |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(s)) {
    const ratio = (peer) =>
      s[peer] && name !== 'baseline' && name !== peer ? `${(r.recordsPerSec / s[peer].recordsPerSec).toFixed(2)}×` : '';
    const rates = r.runs.map((x) => w.count / (x.wallMs / 1000));
    lines.push(
      `| ${name} | ${f(r.recordsPerSec)} (${fk(Math.min(...rates))}–${fk(Math.max(...rates))}) | ${f(r.mbPerSec, 1)} | ${f(r.cpuMsPer10k, 1)} | ${f(r.peakRssMB)} (+${f(r.rssGrowthMB)}) | ${r.requests} | ${ratio('aws-sdk')} | ${ratio('hand-written')} |`,
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
const o = results.ours;
lines.push('');
lines.push(
  `Our wasm + wasm-bindgen glue as shipped: ${f(o.wasmBytes)} B (${f(o.wasmGzip)} gz) + ${f(o.glueBytes)} B (${f(o.glueGzip)} gz) = ${f(o.wasmGzip + o.glueGzip)} B gz; target ≤ 40,960: ${o.wasmGzip + o.glueGzip <= 40960 ? 'met' : 'MISSED'}.`,
);
lines.push('');
const i = results.instantiation;
lines.push(`### Instantiation (median of ${i.processes} fresh processes)`);
lines.push('');
lines.push(
  `Compile ${f(i.compileMs, 2)} ms + instantiate ${f(i.instantiateMs, 2)} ms = ${f(i.compilePlusInstantiateMs, 2)} ms (target ≤ 5: ${i.compilePlusInstantiateMs <= 5 ? 'met' : 'MISSED'}); reading the file ${f(i.readMs, 2)} ms; \`import\` of the whole Node entry ${f(i.importMs, 1)} ms.`,
);
lines.push('');
if (results.stream) {
  lines.push(`### Streaming ${f(STREAM_RECORDS)} records (~250 B) to the sink, maxInFlight 4`);
  lines.push('');
  lines.push(
    '| maxBufferedBytes | baseline RSS MiB | peak RSS MiB | growth MiB | growth / maxBufferedBytes | RSS at 10% … 100% (MiB) | seconds |',
  );
  lines.push('|---:|---:|---:|---:|---:|---|---:|');
  for (const r of results.stream) {
    lines.push(
      `| ${f(r.maxBufferedBytes / MiB)} MiB | ${f(r.baselineMB)} | ${f(r.peakSampledMB)} | ${f(r.growthMB)} | ${(r.growthMB / (r.maxBufferedBytes / MiB)).toFixed(1)} | ${r.checkpoints.map((c) => f(c.rssMB)).join(' ')} | ${f(r.seconds, 1)} |`,
    );
  }
  lines.push('');
}
const md = lines.join('\n');
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(path.join(here, 'results/latest.md'), `${md}\n`);
process.stdout.write(`${md}\n`);
