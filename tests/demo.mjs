// `make demo`: 100,000 sample events through the kinesis-batch CLI into Kinesis, then read back.
//
//   node tests/demo.mjs [--records N] [--shards N]                 local kinesalite (default)
//   node tests/demo.mjs --endpoint URL [--stream NAME] [--records N]  any Kinesis (or KINESIS_ENDPOINT)
//
// 1. Starts kinesalite on 127.0.0.1 and creates a 4-shard stream (unless an endpoint is given).
// 2. Generates sample events and pipes them, as NDJSON, through `kinesis-batch put <stream> -`.
// 3. Reads every record back with GetShardIterator and GetRecords.
// 4. Prints how many were delivered, records/s and the spread over shards; exits 1 if any event
//    is missing or altered (compared byte for byte, and its partition key).
// 5. Stops the server (also on failure and Ctrl-C).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startKinesalite, readAllRecords } from './support/servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../pkg/bin/kinesis-batch.js');

const USAGE = `Usage: node tests/demo.mjs [--records N] [--shards N]
       node tests/demo.mjs --endpoint URL [--stream NAME] [--records N]

Without an endpoint the demo starts kinesalite on 127.0.0.1 with a fresh stream.
With --endpoint (or KINESIS_ENDPOINT) it uses that Kinesis instead. The stream (--stream or
KINESIS_STREAM, default kinesis-batch-demo) must already exist: creating it is your job, e.g.
  aws kinesis create-stream --stream-name kinesis-batch-demo --shard-count 4
Region and credentials then come from AWS_REGION / AWS_DEFAULT_REGION and AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Earlier records in the stream are ignored: each run
tags its events and checks only its own.
With make: make demo DEMO_ARGS="--records 20000"`;

function fail(message) {
  process.stderr.write(`demo: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      endpoint: { type: 'string' },
      stream: { type: 'string' },
      records: { type: 'string' },
      shards: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (error) {
  fail(error.message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const whole = (value, name, fallback, max) => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > max) fail(`--${name} must be a whole number from 1 to ${max}`);
  return n;
};
const total = whole(args.records, 'records', 100_000, 10_000_000);
const shardCount = whole(args.shards, 'shards', 4, 1000);
const endpointGiven = args.endpoint ?? (process.env.KINESIS_ENDPOINT || undefined);
const stream = args.stream ?? (process.env.KINESIS_STREAM || 'kinesis-batch-demo');
if (endpointGiven && args.shards)
  fail('--shards only applies to the local kinesalite; the stream at --endpoint already exists');

const fmt = new Intl.NumberFormat('en-US');
const n = (value) => fmt.format(value);
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const say = (label, text) => console.log(`  ${label.padEnd(10)} ${text}`);

// ---- sample events ------------------------------------------------------------------------------

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ['order.created', 'order.paid', 'order.shipped', 'cart.updated', 'refund.issued', 'page.viewed'];
const CITIES = [
  ['Berlin', 'DE'],
  ['München', 'DE'],
  ['Kraków', 'PL'],
  ['São Paulo', 'BR'],
  ['東京', 'JP'],
  ['Lyon', 'FR'],
  ['Austin', 'US'],
  ['Zürich', 'CH'],
];
const CURRENCY = { DE: 'EUR', PL: 'PLN', BR: 'BRL', JP: 'JPY', FR: 'EUR', US: 'USD', CH: 'CHF' };

/** The i-th event of this run as one NDJSON line, with its id and partition key (customerId). */
function makeEvent(run, i, random, startMs) {
  const [city, country] = CITIES[Math.floor(random() * CITIES.length)];
  const event = {
    id: `evt-${run}-${String(i).padStart(7, '0')}`,
    type: TYPES[Math.floor(random() * TYPES.length)],
    customerId: `cust-${String(Math.floor(random() * 20_000)).padStart(5, '0')}`,
    amount: Math.round(random() * 50_000) / 100,
    currency: CURRENCY[country],
    items: 1 + Math.floor(random() * 5),
    city,
    country,
    timestamp: new Date(startMs + i * 37).toISOString(),
  };
  return { id: event.id, key: event.customerId, line: JSON.stringify(event) };
}

// ---- the run ------------------------------------------------------------------------------------

let server;
let child;
let stopping = false;

async function cleanUp() {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  if (server) {
    const s = server;
    server = undefined;
    await s.stop();
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\ndemo: ${signal}: stopping\n`);
    cleanUp().finally(() => process.exit(130));
  });
}

/** Runs `kinesis-batch put`, feeding it the events; resolves to { code, summary, expected }. */
async function putThroughCli({ endpoint, childEnv, run }) {
  const argv = [cli, 'put', stream, '-', '--endpoint', endpoint, '--partition-key', 'customerId'];
  child = spawn(process.execPath, argv, { env: childEnv, stdio: ['pipe', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
  });
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  let writeError;
  child.stdin.on('error', (error) => {
    writeError = error;
  });

  // Stream the events in, waiting whenever the pipe is full (the CLI applies back-pressure).
  const expected = new Map(); // id → { line, key }
  const random = mulberry32(0x5eed);
  const startMs = Date.parse('2026-11-25T09:00:00.000Z');
  const chunk = [];
  for (let i = 0; i < total && !writeError; i++) {
    const event = makeEvent(run, i, random, startMs);
    expected.set(event.id, event);
    chunk.push(event.line);
    if (chunk.length === 500 || i === total - 1) {
      const ok = child.stdin.write(`${chunk.join('\n')}\n`);
      chunk.length = 0;
      if (!ok) await Promise.race([once(child.stdin, 'drain'), exited]);
    }
  }
  child.stdin.end();
  const code = await exited;
  child = undefined;
  let summary;
  try {
    summary = JSON.parse(stdout);
  } catch {
    throw new Error(
      `kinesis-batch put exited with ${code} and no JSON summary${writeError ? ` (${writeError.message})` : ''}:\n${stdout}`,
    );
  }
  return { code, summary, expected };
}

async function main() {
  const started = performance.now();
  const run = randomBytes(4).toString('hex');
  console.log('kinesis-batch demo');

  let endpoint;
  let childEnv;
  let readOptions;
  if (endpointGiven) {
    endpoint = endpointGiven;
    childEnv = { ...process.env };
    const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
    const credentials =
      process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: process.env.AWS_ACCESS_KEY_ID,
            secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
            sessionToken: process.env.AWS_SESSION_TOKEN || undefined,
          }
        : undefined;
    readOptions = { endpoint, stream, region: region || 'us-east-1', credentials };
    say('kinesis', `${endpoint}  stream ${stream} (must already exist)`);
  } else {
    const t = performance.now();
    server = await startKinesalite({ streams: { [stream]: shardCount } });
    endpoint = server.endpoint;
    // Dummy local credentials; no ambient AWS_* setting (keys, tokens, endpoints) reaches the CLI.
    childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    Object.assign(childEnv, {
      AWS_ACCESS_KEY_ID: 'AKIDLOCALDEMO',
      AWS_SECRET_ACCESS_KEY: 'local-demo-secret',
      AWS_REGION: 'us-east-1',
    });
    readOptions = { endpoint, stream };
    say('kinesalite', `${endpoint}  stream ${stream} (${shardCount} shards), ready in ${secs(performance.now() - t)}`);
  }

  say('put', `${n(total)} events | kinesis-batch put ${stream} - --partition-key customerId`);
  const t0 = performance.now();
  const { code, summary, expected } = await putThroughCli({ endpoint, childEnv, run });
  const putWall = performance.now() - t0;
  say(
    '',
    `${n(summary.sent)} sent in ${summary.seconds.toFixed(2)} s = ${n(summary.recordsPerSecond)} records/s ` +
      `(${n(summary.requests)} requests, ${n(summary.retries)} retries, ${n(summary.failed)} failed, ${n(summary.rejected)} rejected; ` +
      `${secs(putWall)} with process start)`,
  );

  const t1 = performance.now();
  let records;
  try {
    records = await readAllRecords(readOptions);
  } catch (error) {
    console.log(
      `  FAILED     reading the stream back: ${error.message.split('\n')[0]}` +
        (code !== 0 ? ` (and kinesis-batch put exited with ${code})` : ''),
    );
    return 1;
  }
  const readMs = performance.now() - t1;
  say('read back', `${n(records.length)} records in ${secs(readMs)} (GetShardIterator + GetRecords)`);

  const seen = new Map(); // id → times seen
  const perShard = new Map();
  let altered = 0;
  let others = 0;
  const examples = [];
  for (const record of records) {
    const text = record.data.toString('utf8');
    let id;
    try {
      id = JSON.parse(text).id;
    } catch {
      /* not one of ours */
    }
    const want = typeof id === 'string' ? expected.get(id) : undefined;
    if (!want) {
      others++;
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    perShard.set(record.shardId, (perShard.get(record.shardId) ?? 0) + 1);
    if (text !== want.line || record.partitionKey !== want.key) {
      altered++;
      if (examples.length < 3)
        examples.push(
          `${id}: got key ${JSON.stringify(record.partitionKey)} data ${JSON.stringify(text.slice(0, 120))}`,
        );
    }
  }
  const missing = [...expected.keys()].filter((id) => !seen.has(id));
  const duplicates = [...seen.values()].reduce((sum, times) => sum + times - 1, 0);
  const delivered = seen.size;
  say(
    'verified',
    `${n(delivered)} of ${n(total)} delivered byte for byte with their partition keys: ` +
      `${n(missing.length)} missing, ${n(altered)} altered, ${n(duplicates)} duplicates` +
      (others ? `, ${n(others)} older records ignored` : ''),
  );
  const shardIds = [...perShard.keys()].sort();
  if (shardIds.length <= 16) {
    for (const [i, shardId] of shardIds.entries()) {
      const count = perShard.get(shardId);
      say(
        i === 0 ? 'shards' : '',
        `${shardId}  ${n(count).padStart(9)}  ${((100 * count) / delivered).toFixed(1).padStart(5)}%`,
      );
    }
  } else {
    const counts = shardIds.map((s) => perShard.get(s));
    say('shards', `${shardIds.length} shards, ${n(Math.min(...counts))} to ${n(Math.max(...counts))} records each`);
  }

  const problems = [];
  if (code !== 0) problems.push(`kinesis-batch put exited with ${code}`);
  if (summary.sent !== total) problems.push(`put reported ${n(summary.sent)} sent, not ${n(total)}`);
  if (missing.length) problems.push(`${n(missing.length)} events missing, e.g. ${missing.slice(0, 3).join(', ')}`);
  if (altered) problems.push(`${n(altered)} events altered, e.g.\n    ${examples.join('\n    ')}`);
  const elapsed = secs(performance.now() - started);
  if (problems.length) {
    console.log(`  FAILED     after ${elapsed}:\n    ${problems.join('\n    ')}`);
    return 1;
  }
  console.log(`  OK         every event delivered and verified, ${elapsed} in all`);
  return 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`demo: failed: ${error?.message ?? error}\n`);
} finally {
  if (!stopping) {
    const local = server !== undefined;
    await cleanUp();
    if (local) console.log('  kinesalite stopped');
  }
}
process.exit(exitCode);
