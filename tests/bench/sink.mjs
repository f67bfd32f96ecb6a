// The local Kinesis-like sink of workloads 4-6 and the streaming test: an HTTP server on
// 127.0.0.1 that takes PutRecords, parses each body, checks it against Kinesis's limits, and
// acknowledges every record. It runs as its own process, so its CPU is not charged to the client
// being measured. Prints `{"port":N}` on stdout once listening. GET /stats gives the totals;
// POST /reset zeroes them.
//
//   node sink.mjs [--shards N] [--latency-ms L]
//
// Without --shards (workload 4, streaming): every record is acknowledged on
// shardId-000000000000 with one canned answer, as fast as the sink can go.
// --shards N (workloads 5-6, issue 13): a stream of N shards with the hash-key ranges CreateStream
// gives (width floor(2^128 / N), the last shard takes the rest). Each record's ShardId is the
// shard holding its hash key (MD5 of the partition key's UTF-8 bytes as a big-endian u128, or its
// ExplicitHashKey), with per-shard increasing sequence numbers, as the shard-aware options expect;
// ListShards and DescribeStreamSummary answer for that stream.
// --latency-ms L: every answer (control plane included) leaves L ms after its body was read.
//
// Counted: PutRecords requests; Kinesis records; user records (a KPL aggregate's records
// counted inside it); KPL aggregates; 25 KB PUT payload units (ceil((data + key bytes) / 25600)
// per Kinesis record, at least 1); data + key bytes; control-plane calls by action; PutRecords
// requests open at once.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { shards: { type: 'string' }, 'latency-ms': { type: 'string', default: '0' } },
});
const SHARDS = values.shards === undefined ? 0 : Number(values.shards);
const LATENCY_MS = Number(values['latency-ms']);
if (!Number.isInteger(SHARDS) || SHARDS < 0) throw new Error('--shards N: a positive integer');
if (!(LATENCY_MS >= 0)) throw new Error('--latency-ms L: a number ≥ 0');

const STREAM = 'bench';
const STREAM_ARN = `arn:aws:kinesis:us-east-1:000000000000:stream/${STREAM}`;
const TARGET = 'Kinesis_20131202.';
const MAX_RECORDS = 500;
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
const UNIT_BYTES = 25 * 1024;
const ONE =
  '{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}';
// The KPL magic F3 89 9A C2 as the first base64 characters of Data (the 5th character holds
// C2's top 6 bits).
const MAGIC_B64 = '84maw';
const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const answers = new Map();
const freshStats = () => ({
  requests: 0,
  records: 0,
  kinesisRecords: 0,
  aggregates: 0,
  units: 0,
  dataBytes: 0,
  rejected: 0,
  control: {},
  // PutRecords requests open at the sink (headers in, answer not yet sent): the most at once,
  // and the sum of their open times (÷ the run's wall time = the mean number open).
  maxOpen: 0,
  openMs: 0,
});
let open = 0;
let stats = freshStats();

// ---- shards ----------------------------------------------------------------------------------
const HASH_SPACE = 1n << 128n;
const shards = [];
if (SHARDS > 0) {
  const width = HASH_SPACE / BigInt(SHARDS);
  for (let i = 0; i < SHARDS; i++) {
    shards.push({
      id: `shardId-${String(i).padStart(12, '0')}`,
      start: BigInt(i) * width,
      end: i === SHARDS - 1 ? HASH_SPACE - 1n : BigInt(i + 1) * width - 1n,
      // 56-digit sequence numbers, increasing per shard (the shard number in the high digits).
      next: 49n * 10n ** 54n + BigInt(i) * 10n ** 36n,
    });
  }
}
const shardOfHash = (hash) => {
  for (const s of shards) if (hash <= s.end) return s;
  return shards[shards.length - 1];
};
const hashKeyOf = (key, explicit) =>
  explicit !== undefined && explicit !== null
    ? BigInt(explicit)
    : BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`);

// ---- PutRecords ------------------------------------------------------------------------------
function answerFor(n) {
  let a = answers.get(n);
  if (!a) {
    a = Buffer.from(`{"FailedRecordCount":0,"Records":[${new Array(n).fill(ONE).join(',')}]}`);
    answers.set(n, a);
  }
  return a;
}

function base64Length(s) {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** The user records in a KPL aggregate (protobuf AggregatedRecord: field 3 is a record), or throws. */
function countAggregated(b64) {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length < 20 || !bytes.subarray(0, 4).equals(MAGIC)) throw new Error('not a KPL aggregate');
  const end = bytes.length - 16;
  let i = 4;
  let count = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= end) throw new Error('truncated aggregate');
      const b = bytes[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < end) {
    const tag = varint();
    if ((tag & 7) !== 2) throw new Error('unexpected wire type in an aggregate');
    const length = varint();
    i += length;
    if (tag >>> 3 === 3) count++;
  }
  if (i !== end) throw new Error('truncated aggregate');
  return count;
}

/** Checks the body against Kinesis's limits and counts it: → the answer, or throws the problem. */
function putRecords(body) {
  const records = body.Records;
  if (!Array.isArray(records) || records.length < 1 || records.length > MAX_RECORDS)
    throw new Error('bad record count');
  if (body.StreamName !== STREAM && body.StreamARN !== STREAM_ARN) throw new Error('bad StreamName');
  let total = 0;
  let users = 0;
  let aggregates = 0;
  let units = 0;
  const entries = SHARDS > 0 ? new Array(records.length) : null;
  for (let k = 0; k < records.length; k++) {
    const r = records[k];
    if (typeof r.Data !== 'string' || r.Data.length % 4 !== 0) throw new Error('bad Data');
    const key = r.PartitionKey;
    if (typeof key !== 'string' || key.length < 1 || key.length > 256) throw new Error('bad PartitionKey');
    const size = base64Length(r.Data) + Buffer.byteLength(key);
    if (size > MAX_RECORD_BYTES) throw new Error('record too large');
    total += size;
    units += Math.max(1, Math.ceil(size / UNIT_BYTES));
    if (r.Data.startsWith(MAGIC_B64)) {
      users += countAggregated(r.Data);
      aggregates++;
    } else {
      users++;
    }
    if (entries) {
      const eh = r.ExplicitHashKey;
      if (eh !== undefined && !(typeof eh === 'string' && /^\d{1,39}$/.test(eh) && BigInt(eh) < HASH_SPACE))
        throw new Error('bad ExplicitHashKey');
      const shard = shardOfHash(hashKeyOf(key, eh));
      shard.next++;
      entries[k] = `{"SequenceNumber":"${shard.next}","ShardId":"${shard.id}"}`;
    }
  }
  if (total > MAX_REQUEST_BYTES) throw new Error('request too large');
  stats.requests++;
  stats.records += users;
  stats.kinesisRecords += records.length;
  stats.aggregates += aggregates;
  stats.units += units;
  stats.dataBytes += total;
  return entries ? `{"FailedRecordCount":0,"Records":[${entries.join(',')}]}` : answerFor(records.length);
}

// ---- control plane ---------------------------------------------------------------------------
const shardJson = (s, i) => ({
  ShardId: s.id,
  HashKeyRange: { StartingHashKey: s.start.toString(), EndingHashKey: s.end.toString() },
  SequenceNumberRange: { StartingSequenceNumber: (49n * 10n ** 54n + BigInt(i) * 10n ** 36n).toString() },
});
const CONTROL = {
  // Every shard on one page (the dispatcher asks for the stream's map once).
  ListShards: (body) => {
    if (body.NextToken !== undefined) throw new Error('no NextToken was given out');
    if (body.StreamName !== STREAM && body.StreamARN !== STREAM_ARN) throw new Error('bad StreamName');
    return JSON.stringify({ Shards: shards.map(shardJson) });
  },
  DescribeStreamSummary: (body) => {
    if (body.StreamName !== STREAM && body.StreamARN !== STREAM_ARN) throw new Error('bad StreamName');
    return JSON.stringify({
      StreamDescriptionSummary: {
        StreamName: STREAM,
        StreamARN: STREAM_ARN,
        StreamStatus: 'ACTIVE',
        StreamModeDetails: { StreamMode: 'PROVISIONED' },
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: 1_764_000_000,
        EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
        EncryptionType: 'NONE',
        OpenShardCount: shards.length,
        ConsumerCount: 0,
      },
    });
  },
};

function signed(req) {
  if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 Credential=')) return 'not signed';
  if (!req.headers['x-amz-date']) return 'no X-Amz-Date';
  return null;
}

const reply = LATENCY_MS > 0 ? (fn) => setTimeout(fn, LATENCY_MS) : (fn) => fn();

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(stats));
  }
  if (req.method === 'POST' && req.url === '/reset') {
    stats = freshStats();
    return res.end('{}');
  }
  const chunks = [];
  const target = String(req.headers['x-amz-target'] ?? '');
  const action = target.startsWith(TARGET) ? target.slice(TARGET.length) : '';
  const counted = action === 'PutRecords' ? stats : null;
  const since = performance.now();
  if (counted && ++open > counted.maxOpen) counted.maxOpen = open;
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let answer;
    let problem = signed(req);
    if (!problem) {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (action === 'PutRecords') answer = putRecords(body);
        else if (SHARDS > 0 && Object.hasOwn(CONTROL, action)) {
          answer = CONTROL[action](body);
          stats.control[action] = (stats.control[action] ?? 0) + 1;
        } else problem = `bad X-Amz-Target ${target}`;
      } catch (error) {
        problem = error.message;
      }
    }
    reply(() => {
      if (counted) {
        open--;
        counted.openMs += performance.now() - since;
      }
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (problem) {
        stats.rejected++;
        res.statusCode = 400;
        res.setHeader('x-amzn-errortype', 'ValidationException');
        return res.end(JSON.stringify({ __type: 'ValidationException', message: problem }));
      }
      res.end(answer);
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
// Stop with the parent.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
