// The preview page's worker: reads the input and splits it into records, plans them with the
// library's own planBatches (the wasm core), maps every planned key to its shard with
// shardIndexFor or the core's ShardMap, plans them again with aggregation on (planBatches'
// `aggregate`, grouped by the same shard map) for the comparison and the hottest keys per shard,
// and renders request bodies with the real KinesisBatchDispatcher and a fetch that never sends
// anything. The page's main thread only draws.
//
// A record's data is its text exactly as written in the input (as the CLI takes a line): that
// text is what planBatches plans, what the core reads the partition key from and what the body
// sends. Whether it is JSON is the core's checkJson's answer, on its UTF-8 bytes. Limits and
// their defaults are the core's (resolveLimits): none is written here.
import init, { ShardMap, checkJson, resolveLimits } from './vendor/kinesis-batch/wasm/kinesis_batch.js';
import {
  configureRuntime,
  planBatches,
  hashKeyOf,
  shardIndexFor,
  KinesisBatchDispatcher,
} from './vendor/kinesis-batch/core.js';
import { scannerFor, utf8Length } from './input.js';
import { evenShards, parseShardList, shardLoad } from './stats.js';

const ready = init({
  module_or_path: new URL('./vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm', import.meta.url),
}).then(() => configureRuntime({}));

/** The code of a record that is not one JSON value: the core's (checkJson), as the CLI reports it. */
export const INVALID_JSON = 'InvalidJson';
const PROGRESS_INTERVAL_MS = 100;
const MIB = 1024 * 1024; // a unit, for the exported MiB/s

const encoder = new TextEncoder();
let scratch = new Uint8Array(65536);

/** The UTF-8 bytes of `text`, in a buffer reused from record to record (valid until the next call). */
function utf8Of(text) {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(Math.max(text.length * 3, scratch.length * 2));
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/** Whether `text` is one JSON value, as the core decides it (checkJson on its UTF-8 bytes). */
const isJson = (text) => checkJson(utf8Of(text)) === undefined;

let input = null; // { text, name, bytes }
let plan = null;

/** A growable typed array. */
class Column {
  constructor(Type, capacity = 1024) {
    this.Type = Type;
    this.data = new Type(capacity);
    this.length = 0;
  }
  push(v) {
    if (this.length === this.data.length) {
      const bigger = new this.Type(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  done() {
    return this.data.slice(0, this.length);
  }
}

function progress(id, phase, fraction, extra) {
  postMessage({ type: 'progress', id, phase, fraction, ...extra });
}

async function readInput(id, source, name) {
  if (typeof source === 'string') return { text: source, name: name || 'pasted text', bytes: utf8Length(source) };
  const file = source;
  const reader = file.stream().getReader();
  const decoder = new TextDecoder('utf-8');
  const parts = [];
  let done = 0;
  let last = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    parts.push(decoder.decode(value, { stream: true }));
    done += value.byteLength;
    const now = performance.now();
    if (now - last > PROGRESS_INTERVAL_MS) {
      last = now;
      progress(id, 'reading', file.size ? done / file.size : 1);
    }
  }
  parts.push(decoder.decode());
  return { text: parts.join(''), name: file.name || name || 'file', bytes: file.size };
}

function planOptions(settings) {
  return {
    partitionKeyIdentifier: settings.partitionKeyIdentifier || undefined,
    maxBatchSize: settings.maxBatchSize,
    maxRecordBytes: settings.maxRecordBytes,
    maxRequestBytes: settings.maxRequestBytes,
  };
}

function describe(error) {
  return { code: error?.code, option: error?.option, message: error?.message ?? String(error) };
}

/** Throws the core's InvalidOption (option shardCount) for a shard count it does not take. */
function checkShardCount(settings) {
  if (settings.shardMode !== 'ranges') shardIndexFor('k', Number(settings.shardCount));
}

async function runPlan(id, { source, name, settings }) {
  const t0 = performance.now();
  await ready;
  // Bad settings are reported before a large file is read.
  const options = planOptions(settings);
  const limits = resolveLimits(options);
  resolveLimits({ maxAggregateBytes: settings.maxAggregateBytes });
  checkShardCount(settings);
  if (source !== undefined) {
    input = null;
    plan = null;
    input = await readInput(id, source, name);
  }
  if (!input) throw new Error('no input: paste records or choose a file');
  const t1 = performance.now();
  const { text } = input;
  const { scanner, format } = scannerFor(text, settings.format, isJson);

  // Per accepted-or-rejected payload (planBatches' index): line, span and data size.
  const lines = new Column(Uint32Array);
  const starts = new Column(Uint32Array);
  const ends = new Column(Uint32Array);
  const dataLengths = new Column(Uint32Array);
  const parseErrors = []; // { line, message }: records the library never sees
  let last = 0;
  let seen = 0;

  // A record's payload is its text as written: planBatches sends a string as its UTF-8 bytes,
  // so the data, its size and the key read from it are those of the input, as in the CLI.
  const take = (start, end, line) => {
    const raw = text.slice(start, end);
    const bytes = utf8Of(raw);
    const invalid = checkJson(bytes);
    if (invalid) {
      parseErrors.push({ line, message: invalid.message });
      return undefined;
    }
    lines.push(line);
    starts.push(start);
    ends.push(end);
    dataLengths.push(bytes.length);
    return raw;
  };

  function* payloads() {
    while (scanner.next()) {
      if (++seen % 1024 === 0) {
        const now = performance.now();
        if (now - last > PROGRESS_INTERVAL_MS) {
          last = now;
          progress(id, 'planning', scanner.fraction, { records: seen });
        }
      }
      if (scanner.error) {
        const { span } = scanner.error;
        if (span) {
          const raw = take(span.start, span.end, span.line);
          if (raw !== undefined) yield raw;
        }
        parseErrors.push({ line: scanner.error.line, message: scanner.error.message });
        continue;
      }
      const raw = take(scanner.start, scanner.end, scanner.line);
      if (raw !== undefined) yield raw;
    }
  }

  const result = planBatches(payloads(), options);
  const t2 = performance.now();

  const recordLine = lines.done();
  // Rejections from the core and parse errors, merged by line.
  const rejected = [];
  {
    let p = 0;
    for (const r of result.rejected) {
      const line = recordLine[r.index];
      while (p < parseErrors.length && parseErrors[p].line <= line)
        rejected.push({ line: parseErrors[p].line, code: INVALID_JSON, message: parseErrors[p++].message });
      rejected.push({ line, index: r.index, code: r.code, message: r.message });
    }
    while (p < parseErrors.length)
      rejected.push({ line: parseErrors[p].line, code: INVALID_JSON, message: parseErrors[p++].message });
  }
  const byCode = {};
  for (const r of rejected) byCode[r.code] = (byCode[r.code] || 0) + 1;

  plan = {
    settings,
    options,
    limits,
    format,
    batches: result.batches,
    // The library's own totals without aggregation: one Kinesis record per accepted payload.
    off: totalsOf(result),
    rejected,
    byCode,
    recordLine,
    recordStart: starts.done(),
    recordEnd: ends.done(),
    dataLength: dataLengths.done(),
    recordShard: new Int32Array(recordLine.length).fill(-2),
    keyBytes: 0,
    sizeMismatches: 0,
  };
  checkSizes(plan);
  const shards = mapShards(id, settings);
  const aggregation = aggregate(id, settings);
  const t3 = performance.now();
  return {
    summary: summaryOf(plan, { readMs: t1 - t0, planMs: t2 - t1, shardMs: t3 - t2, totalMs: t3 - t0 }),
    limits,
    batches: batchColumns(plan),
    shards,
    aggregation,
    rejected: rejectedPage({ offset: 0, limit: 100 }),
  };
}

/** Requests, Kinesis records, PUT payload units and bytes of a planBatches result. */
function totalsOf(result) {
  let bytes = 0;
  for (const b of result.batches) bytes += b.bytes;
  return {
    requests: result.requests,
    kinesisRecords: result.kinesisRecords,
    payloadUnits: result.payloadUnits,
    bytes,
  };
}

/**
 * The same payloads planned with aggregation on, by planBatches with `aggregate` and the shard
 * map in use (the even split, or the pasted ranges as a ListShards answer): the records the
 * library would send, and each shard's hottest partition keys.
 */
function aggregate(id, settings) {
  const p = plan;
  const list = p.shards.list;
  const map =
    p.shards.mode === 'ranges'
      ? {
          listShards: {
            Shards: list.map((x) => ({
              ShardId: x.shardId,
              HashKeyRange: { StartingHashKey: x.start, EndingHashKey: x.end },
            })),
          },
        }
      : { shardCount: list.length };
  const options = { ...p.options, ...map, aggregate: true, maxAggregateBytes: settings.maxAggregateBytes };
  const n = p.recordLine.length;
  let last = performance.now();
  function* payloads() {
    for (let i = 0; i < n; i++) {
      if (i % 1024 === 0) {
        const now = performance.now();
        if (now - last > PROGRESS_INTERVAL_MS) {
          last = now;
          progress(id, 'aggregating', i / n);
        }
      }
      yield payloadAt(p, i);
    }
  }
  const result = planBatches(payloads(), options);
  p.aggregation = {
    maxAggregateBytes: resolveLimits({ maxAggregateBytes: settings.maxAggregateBytes }).maxAggregateBytes,
    payloadUnitBytes: p.limits.payloadUnitBytes,
    randomKeys: !p.options.partitionKeyIdentifier,
    off: p.off,
    on: totalsOf(result),
    shards: result.shards,
  };
  return p.aggregation;
}

// The page's per-record sizes (for MiB/s per shard) must add up to the core's batch bytes.
function checkSizes(p) {
  let keyBytes = 0;
  for (const b of p.batches) {
    let sum = 0;
    for (let j = 0; j < b.records; j++) {
      const k = utf8Length(b.partitionKeys[j]);
      keyBytes += k;
      sum += p.dataLength[b.indices[j]] + k;
    }
    if (sum !== b.bytes) p.sizeMismatches++;
  }
  p.keyBytes = keyBytes;
}

function summaryOf(p, timing) {
  let accepted = 0,
    bytes = 0,
    fullByCount = 0;
  for (const b of p.batches) {
    accepted += b.records;
    bytes += b.bytes;
    if (b.records === p.limits.maxBatchSize) fullByCount++;
  }
  const last = p.batches.length ? 1 : 0;
  return {
    name: input.name,
    inputBytes: input.bytes,
    format: p.format,
    payloads: p.recordLine.length,
    records: p.recordLine.length + (p.byCode[INVALID_JSON] || 0),
    accepted,
    rejected: p.rejected.length,
    invalidJson: p.byCode[INVALID_JSON] || 0,
    byCode: p.byCode,
    requests: p.batches.length,
    bytes,
    keyBytes: p.keyBytes,
    fullByCount,
    // A batch that is not full by count closed because the next record would not fit its bytes
    // (or the input ended: the last batch).
    fullByBytes: p.batches.length
      ? p.batches.length - fullByCount - (p.batches.at(-1).records === p.limits.maxBatchSize ? 0 : last)
      : 0,
    randomKeys: !p.options.partitionKeyIdentifier,
    sizeMismatches: p.sizeMismatches,
    timing,
  };
}

function batchColumns(p) {
  const n = p.batches.length;
  const records = new Uint32Array(n);
  const bytes = new Float64Array(n);
  const firstLine = new Uint32Array(n);
  const lastLine = new Uint32Array(n);
  p.batches.forEach((b, i) => {
    records[i] = b.records;
    bytes[i] = b.bytes;
    firstLine[i] = p.recordLine[b.indices[0]];
    lastLine[i] = p.recordLine[b.indices[b.records - 1]];
  });
  return { records, bytes, firstLine, lastLine };
}

/** Maps every planned record to its shard; the settings are { shardMode, shardCount, shardList }. */
function mapShards(id, settings) {
  const p = plan;
  let shards,
    closed = 0,
    warnings = [];
  let indexOf;
  let map = null;
  if (settings.shardMode === 'ranges') {
    ({ shards, closed, warnings } = parseShardList(settings.shardList || ''));
    try {
      map = new ShardMap(
        shards.map((s) => s.start),
        shards.map((s) => s.end),
        shards.map((s) => s.shardId),
      );
    } catch (error) {
      throw new Error(error.message);
    }
    indexOf = (key) => map.indexOfKey(key);
  } else {
    const count = Number(settings.shardCount);
    checkShardCount(settings);
    shards = evenShards(count);
    indexOf = (key) => shardIndexFor(key, count);
  }
  try {
    const n = shards.length;
    const counts = new Float64Array(n);
    const bytes = new Float64Array(n);
    let unassigned = 0,
      unassignedBytes = 0,
      done = 0,
      last = performance.now();
    for (const b of p.batches) {
      for (let j = 0; j < b.records; j++) {
        const key = b.partitionKeys[j];
        const index = b.indices[j];
        const shard = indexOf(key);
        const size = p.dataLength[index] + utf8Length(key);
        p.recordShard[index] = shard;
        if (shard < 0) {
          unassigned++;
          unassignedBytes += size;
        } else {
          counts[shard]++;
          bytes[shard] += size;
        }
      }
      done += b.records;
      const now = performance.now();
      if (now - last > PROGRESS_INTERVAL_MS) {
        last = now;
        progress(id, 'shards', done / Math.max(1, p.recordLine.length));
      }
    }
    p.shards = {
      mode: settings.shardMode === 'ranges' ? 'ranges' : 'even',
      list: shards,
      closed,
      warnings,
      counts,
      bytes,
      unassigned,
      unassignedBytes,
    };
    return shardsMessage(p);
  } finally {
    map?.free();
  }
}

function shardsMessage(p) {
  const s = p.shards;
  return {
    mode: s.mode,
    ids: s.list.map((x) => x.shardId),
    starts: s.list.map((x) => x.start),
    ends: s.list.map((x) => x.end),
    shares: s.list.map((x) => x.share),
    counts: s.counts,
    bytes: s.bytes,
    unassigned: s.unassigned,
    closed: s.closed,
    warnings: s.warnings,
  };
}

function rejectedPage({ offset = 0, limit = 100, code = '' }) {
  const rows = code ? plan.rejected.filter((r) => r.code === code) : plan.rejected;
  return { offset, total: rows.length, code, rows: rows.slice(offset, offset + limit) };
}

/** The record's data: its text as written, the payload planBatches planned. */
function payloadAt(p, index) {
  return input.text.slice(p.recordStart[index], p.recordEnd[index]);
}

/** The PutRecords request the library would send for the first `count` records of a batch. */
async function body({ batch, count, stream }) {
  const p = plan;
  const b = p.batches[batch];
  if (!b) throw new Error(`there is no batch ${batch + 1}`);
  const n = Math.max(1, Math.min(count, b.records));
  const captured = [];
  // The dispatcher's transport: records the request and answers as Kinesis would. Nothing leaves.
  const fetch = async (url, init) => {
    captured.push({ url: String(url), headers: init.headers, body: new TextDecoder().decode(init.body) });
    const records = Array.from({ length: n }, (_, i) => ({
      SequenceNumber: String(i + 1),
      ShardId: 'shardId-000000000000',
    }));
    return new Response(JSON.stringify({ FailedRecordCount: 0, Records: records }), {
      status: 200,
      headers: { 'content-type': 'application/x-amz-json-1.1' },
    });
  };
  const kn = new KinesisBatchDispatcher(stream, {
    region: stream.startsWith('arn:') ? undefined : 'us-east-1',
    credentials: { accessKeyId: 'PREVIEW', secretAccessKey: 'preview-never-sent' },
    fetch,
    ...p.options,
    partitionKeyIdentifier: undefined,
    maxInFlight: 1,
  });
  const records = [];
  for (let j = 0; j < n; j++) {
    const index = b.indices[j];
    const partitionKey = b.partitionKeys[j];
    await kn.submitPayload(payloadAt(p, index), { partitionKey });
    const shard = p.recordShard[index];
    records.push({
      line: p.recordLine[index],
      partitionKey,
      hashKey: hashKeyOf(partitionKey),
      shardId: shard >= 0 ? p.shards.list[shard].shardId : null,
      dataBytes: p.dataLength[index],
    });
  }
  const report = await kn.flushPayloads();
  if (report.failed.length || captured.length !== 1) throw new Error('could not render the request body');
  const { headers } = captured[0];
  const pick = (name) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return {
    batch,
    shown: n,
    total: b.records,
    batchBytes: b.bytes,
    url: captured[0].url,
    contentType: pick('content-type'),
    target: pick('x-amz-target'),
    body: captured[0].body,
    records,
  };
}

/** The whole plan as a JSON file (built in parts: it can be tens of MB). */
function exportPlan({ rate }) {
  const p = plan;
  const s = p.shards;
  const summary = summaryOf(p, undefined);
  delete summary.timing;
  const load = shardLoad(
    {
      shares: s.list.map((x) => x.share),
      counts: s.counts,
      bytes: s.bytes,
      accepted: summary.accepted,
      totalBytes: summary.bytes,
      randomKeys: summary.randomKeys,
    },
    rate,
    p.limits,
  );
  const parts = [];
  const head = {
    generator: 'kinesis-batch preview page',
    createdAt: new Date().toISOString(),
    input: { name: input.name, bytes: input.bytes, format: p.format },
    settings: {
      partitionKeyIdentifier: p.options.partitionKeyIdentifier ?? null,
      maxBatchSize: p.limits.maxBatchSize,
      maxRecordBytes: p.limits.maxRecordBytes,
      maxRequestBytes: p.limits.maxRequestBytes,
      shards:
        s.mode === 'even' ? { mode: 'even', count: s.list.length } : { mode: 'ranges', closedShardsIgnored: s.closed },
      rateRecordsPerSecond: rate,
    },
    summary,
    shards: s.list.map((x, i) => ({
      shardId: x.shardId,
      startingHashKey: x.start,
      endingHashKey: x.end,
      share: x.share,
      records: s.counts[i],
      bytes: s.bytes[i],
      recordsPerSecond: load.rows[i].recordsPerSecond,
      mibPerSecond: load.rows[i].bytesPerSecond / MIB,
      hot: load.rows[i].hot,
    })),
    unassignedRecords: s.unassigned,
    aggregation: { ...p.aggregation, randomKeys: undefined },
    maxRateRecordsPerSecond: Number.isFinite(load.maxRate) ? load.maxRate : null,
    rejected: p.rejected,
  };
  const headText = JSON.stringify(head, null, 1);
  parts.push(headText.slice(0, -2), ',\n "batches": [\n');
  p.batches.forEach((b, i) => {
    const lines = new Array(b.records);
    const shards = new Array(b.records);
    for (let j = 0; j < b.records; j++) {
      lines[j] = p.recordLine[b.indices[j]];
      const shard = p.recordShard[b.indices[j]];
      shards[j] = shard >= 0 ? s.list[shard].shardId : null;
    }
    parts.push(
      i ? ',\n' : '',
      JSON.stringify({ records: b.records, bytes: b.bytes, lines, partitionKeys: b.partitionKeys, shards }),
    );
  });
  parts.push('\n ]\n}\n');
  return new Blob(parts, { type: 'application/json' });
}

const handlers = {
  plan: runPlan,
  // New shard settings or maxAggregateBytes: the keys mapped again and the aggregation redone.
  shards: async (id, { settings }) => {
    if (!plan) throw new Error('nothing is planned yet');
    resolveLimits({ maxAggregateBytes: settings.maxAggregateBytes }); // refuses a bad one first
    plan.settings = {
      ...plan.settings,
      shardMode: settings.shardMode,
      shardCount: settings.shardCount,
      shardList: settings.shardList,
      maxAggregateBytes: settings.maxAggregateBytes,
    };
    const shards = mapShards(id, settings);
    return { shards, aggregation: aggregate(id, settings) };
  },
  rejected: async (_id, args) => rejectedPage(args),
  body: async (_id, args) => body(args),
  export: async (_id, args) => ({ blob: exportPlan(args) }),
  // The page's defaults and per-shard limits, from the core.
  ping: async () => {
    await ready;
    return { ready: true, limits: resolveLimits({}) };
  },
};

// One job at a time, in order.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const { id, type, args } = event.data;
  queue = queue.then(async () => {
    try {
      const handler = handlers[type];
      if (!handler) throw new Error(`unknown request ${type}`);
      const result = await handler(id, args || {});
      const transfer = [];
      if (result?.batches)
        transfer.push(
          result.batches.records.buffer,
          result.batches.bytes.buffer,
          result.batches.firstLine.buffer,
          result.batches.lastLine.buffer,
        );
      postMessage({ type: 'done', id, result }, transfer);
    } catch (error) {
      postMessage({ type: 'error', id, error: describe(error) });
    }
  });
};
