#!/usr/bin/env node
// kinesis-batch: put NDJSON into an Amazon Kinesis data stream, or plan the batches offline.
//
// Every non-empty input line is one JSON value and becomes one record. The record's data is the
// line's bytes exactly as written (without the line terminator), so what is read back from the
// stream is byte for byte the input line, and a --failed-out file can be fed back to `put`.
// Node built-ins only, plus the package itself.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

const USAGE = `Usage:
  kinesis-batch put <stream> [file|-] [options]   send NDJSON records to a Kinesis stream
  kinesis-batch plan [file|-] [options]           show the batches put would send, offline
  kinesis-batch preview [--port N] [--host H]     serve the batch preview page, print its URL
  kinesis-batch --help | --version

Each non-empty line of the input (a file, or stdin when it is "-" or left out) is one JSON
value and becomes one record. The record's data is the line's bytes exactly as written.

Options for put and plan:
  --partition-key FIELD     field (or /json/pointer) of the line's JSON whose value (string,
                            number as written, boolean) is the partition key; default: a
                            random UUIDv4 per record
  --max-batch-size N        records per PutRecords request
  --max-record-bytes N      data + partition key bytes per record
  --max-request-bytes N     data + partition key bytes per request
  ("plan" prints the limits in effect; the defaults and ranges are the library's options.)

put options:
  --endpoint URL            default: AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL, then
                            https://kinesis.<region>.amazonaws.com
  --region REGION           signing region; default: AWS_REGION, then AWS_DEFAULT_REGION,
                            then the region of the AWS_PROFILE profile (default: default)
                            in ~/.aws/config (or AWS_CONFIG_FILE)
  --failed-out FILE         write the lines of records that finally failed to FILE (NDJSON,
                            one input line per record, ready to feed back to put); the file
                            is always created, empty when nothing failed
  --max-in-flight N         concurrent PutRecords requests
  --max-attempts N          tries per record, the first included
  --retry-base-delay-ms N   the first retry's delay bound, in ms
  --retry-max-delay-ms N    the largest retry delay bound, in ms
  --request-timeout-ms N    deadline of each attempt, in ms; an attempt past it is retried
  --aggregate               pack records bound for one shard into KPL-format aggregated
                            records (consumers deaggregate them: the KCL, aws-kinesis-agg)
  --ordered                 store each partition key's records in the order of the lines
  Without these options, the library's defaults apply (maxInFlight, maxAttempts,
  retryBaseDelayMs, retryMaxDelayMs, requestTimeoutMs).
  -q, --quiet               no progress line on stderr
  Credentials come from the AWS default credentials chain: AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or AWS_PROFILE (~/.aws/credentials and
  ~/.aws/config), SSO, web identity, ECS/container or EC2 instance credentials (these through
  the optional dependency @aws-sdk/credential-providers). Without any, put stops at the
  first send with CredentialsUnavailable (exit 2).

plan options:
  --shards N                count records and bytes per shard of a stream of N evenly
                            split shards (as CreateStream makes them)
  --batches                 list every batch (default: a summary)
  --aggregate               plan KPL aggregation over the --shards map (without --shards,
                            records with the same key only): Kinesis records and 25 KB units

preview options:
  --port N                  port to listen on (default 8080; 0: any free port)
  --host HOST               address to listen on (default 127.0.0.1)
  preview serves the batch preview page the package ships (see batches and shards in the
  browser, offline), prints "kinesis-batch preview: http://127.0.0.1:PORT/" on stdout and
  runs until Ctrl-C or SIGTERM, then exits 0.

Output: a JSON summary (put) or plan (plan) on stdout. Bad lines are reported on stderr as
"line N: CODE: message" and never stop the other lines. put shows progress on stderr when
stderr is a terminal; Ctrl-C stops reading and delivers what was read, a second Ctrl-C
aborts and sends the unsent records to --failed-out.
Exit status: 0 every record delivered (put) or every line valid (plan); 1 some records failed
or some lines were rejected; 2 usage or configuration error; 130 interrupted.`;

const COMMON_OPTIONS = {
  'partition-key': { type: 'string' },
  'max-batch-size': { type: 'string' },
  'max-record-bytes': { type: 'string' },
  'max-request-bytes': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const PUT_OPTIONS = {
  ...COMMON_OPTIONS,
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'failed-out': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'max-attempts': { type: 'string' },
  'retry-base-delay-ms': { type: 'string' },
  'retry-max-delay-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  aggregate: { type: 'boolean' },
  ordered: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
};

const PLAN_OPTIONS = {
  ...COMMON_OPTIONS,
  shards: { type: 'string' },
  batches: { type: 'boolean' },
  aggregate: { type: 'boolean' },
};

// Library option name → CLI flag, to word errors the way the user typed them.
const FLAG_OF = {
  partitionKeyIdentifier: '--partition-key',
  maxBatchSize: '--max-batch-size',
  maxRecordBytes: '--max-record-bytes',
  maxRequestBytes: '--max-request-bytes',
  maxInFlight: '--max-in-flight',
  maxAttempts: '--max-attempts',
  retryBaseDelayMs: '--retry-base-delay-ms',
  retryMaxDelayMs: '--retry-max-delay-ms',
  requestTimeoutMs: '--request-timeout-ms',
  endpoint: '--endpoint',
  region: '--region',
  stream: '<stream>',
  shardCount: '--shards',
};

// Codes submitPayload rejects a single record with; anything else is not about the line.
const RECORD_CODES = new Set([
  'RecordTooLarge',
  'MissingPartitionKey',
  'InvalidPartitionKey',
  'InvalidExplicitHashKey',
  'UnserializablePayload',
]);

class UsageError extends Error {}

// ---- small helpers --------------------------------------------------------------------------

function version() {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function wholeNumber(values, name) {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (!/^[0-9]+$/.test(raw)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** InvalidOption errors from the library, worded with the CLI's flag names. */
function optionMessage(error) {
  const flag = FLAG_OF[error.option];
  if (!flag) return error.message;
  const prefix = `${error.option}: `;
  return `${flag}: ${error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message}`;
}

/** An endpoint for display: never any user:password part. */
function displayEndpoint(endpoint) {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}

const number = new Intl.NumberFormat('en-US');

function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// Writes to stderr, clearing the progress line first if one is on screen.
const stderr = {
  progressShown: false,
  line(text) {
    if (this.progressShown) {
      process.stderr.write('\r\x1b[2K');
      this.progressShown = false;
    }
    process.stderr.write(`${text}\n`);
  },
  progress(text) {
    process.stderr.write(`\r\x1b[2K${text}`);
    this.progressShown = true;
  },
  clear() {
    if (this.progressShown) process.stderr.write('\r\x1b[2K');
    this.progressShown = false;
  },
};

function lineError(lineNo, code, message) {
  stderr.line(`line ${lineNo}: ${code}: ${message}`);
}

// ---- input ----------------------------------------------------------------------------------

/** Opens a file (checked now, so a bad path is a usage error) or stdin. */
async function openInput(file) {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) stderr.line('kinesis-batch: reading NDJSON from the terminal; end with Ctrl-D');
    return { name: '-', stream: process.stdin };
  }
  let handle;
  try {
    handle = await open(file, 'r');
    if ((await handle.stat()).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  } catch (error) {
    await handle?.close();
    throw new UsageError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  }
  return { name: file, stream: handle.createReadStream({ highWaterMark: 256 * 1024 }) };
}

/**
 * The input's lines as { lineNo, bytes } (bytes: a copy without "\n" or "\r\n"; line numbers
 * count every line, empty ones too). A line longer than `maxLineBytes` is not kept in memory:
 * it comes as { lineNo, bytes: null, length } with the length read so far. Reading waits while
 * the consumer works, so the input is never read further ahead than the stream's buffer.
 */
async function* readLines(stream, maxLineBytes) {
  let parts = [];
  let length = 0;
  let lineNo = 0;
  let lastByte = -1;
  const take = () => {
    let bytes = null;
    const crlf = lastByte === 13;
    if (length <= maxLineBytes) {
      bytes = Buffer.concat(parts, length); // a copy: the chunk is not kept alive by the record
      if (crlf) bytes = bytes.subarray(0, bytes.length - 1);
    }
    const line = { lineNo, bytes, length: crlf ? length - 1 : length };
    parts = [];
    length = 0;
    lastByte = -1;
    return line;
  };
  for await (const chunk of stream) {
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (end > start) {
        if (length + (end - start) <= maxLineBytes) parts.push(chunk.subarray(start, end));
        else parts = [];
        length += end - start;
        lastByte = chunk[end - 1];
      }
      if (nl === -1) break;
      lineNo++;
      yield take();
      start = nl + 1;
    }
  }
  if (length > 0) {
    lineNo++;
    yield take();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a BOM: parseLine drops it from the bytes too
const BOM = 0xfeff;

class LineError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Checks one line: undefined for an empty line, otherwise the record's data bytes (the line as
 * written). The core checks that it is JSON and, with --partition-key, reads the key from it.
 * Throws a LineError for a line that can't be a record.
 */
function parseLine(line, { recordCeiling, recordCeilingOption }, checkJson) {
  if (line.bytes === null) {
    throw new LineError(
      'RecordTooLarge',
      `record data alone is ${line.length} bytes; ${recordCeilingOption} is ${recordCeiling}`,
    );
  }
  let text;
  try {
    text = utf8.decode(line.bytes);
  } catch {
    throw new LineError('InvalidJson', 'line is not valid UTF-8');
  }
  let bytes = line.bytes;
  if (line.lineNo === 1 && text.charCodeAt(0) === BOM) {
    text = text.slice(1);
    bytes = bytes.subarray(3);
  }
  if (text.trim() === '') return undefined;
  const invalid = checkJson(bytes);
  if (invalid) throw new LineError(invalid.code, invalid.message);
  return bytes;
}

/** The limit options as given, and the limits they resolve to in the core (defaults applied). */
function limitsFrom(values, resolveLimits) {
  const given = {
    maxBatchSize: wholeNumber(values, 'max-batch-size'),
    maxRecordBytes: wholeNumber(values, 'max-record-bytes'),
    maxRequestBytes: wholeNumber(values, 'max-request-bytes'),
  };
  for (const key of Object.keys(given)) if (given[key] === undefined) delete given[key];
  let resolved;
  try {
    resolved = resolveLimits(given);
  } catch (error) {
    if (error?.code === 'InvalidOption') throw new UsageError(optionMessage(error));
    throw error;
  }
  return { given, resolved };
}

/** The package, and the core's line and limit helpers from the same wasm instance. */
async function loadLibrary() {
  try {
    const library = await import('../node.js');
    const { Plan, checkJson, resolveLimits, isStreamError } = await import('../wasm/kinesis_batch.js');
    return { ...library, Plan, checkJson, resolveLimits, isStreamError };
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ERR_MODULE_NOT_FOUND') {
      throw new UsageError(`the package's wasm module is missing (${error.message}); build it with \`make build\``);
    }
    throw error;
  }
}

/** Indented JSON, with flat arrays and small flat objects kept on one line. */
function formatJson(value, indent = '') {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const inner = `${indent}  `;
  const isFlat = (values) => values.every((v) => v === null || typeof v !== 'object');
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (isFlat(value)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  if (indent !== '' && isFlat(entries.map(([, v]) => v))) {
    const line = `{ ${entries.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }`;
    if (line.length <= 120) return line;
  }
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
}

function writeStdout(text) {
  return new Promise((resolve) => {
    process.stdout.write(text, () => resolve());
  });
}

// ---- put ------------------------------------------------------------------------------------

async function put(values, positionals) {
  const [stream, file, ...extra] = positionals;
  if (stream === undefined) throw new UsageError('put needs a stream name or ARN');
  if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const field = values['partition-key'];
  if (field === '') throw new UsageError('--partition-key must be a field name');
  const { KinesisBatchDispatcher, KinesisBatchError, checkJson, resolveLimits, isStreamError } = await loadLibrary();
  const limits = limitsFrom(values, resolveLimits);
  const options = {
    region: values.region,
    endpoint: values.endpoint ?? (process.env.AWS_ENDPOINT_URL_KINESIS || process.env.AWS_ENDPOINT_URL || undefined),
    partitionKeyIdentifier: field,
    ...limits.given,
    maxInFlight: wholeNumber(values, 'max-in-flight'),
    maxAttempts: wholeNumber(values, 'max-attempts'),
    retryBaseDelayMs: wholeNumber(values, 'retry-base-delay-ms'),
    retryMaxDelayMs: wholeNumber(values, 'retry-max-delay-ms'),
    requestTimeoutMs: wholeNumber(values, 'request-timeout-ms'),
    aggregate: values.aggregate,
    ordered: values.ordered,
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  const abort = new AbortController();
  // Failures stream in as records fail. One about the whole stream (missing, access denied, bad
  // credentials), or no credentials from any source (CredentialsUnavailable), is a configuration
  // error: reading stops, and put exits 2.
  const failures = [];
  let configError;
  let input;
  const onFailed = (batch) => {
    for (const f of batch) {
      failures.push(f);
      if (!configError && (isStreamError(f.errorCode) || f.errorCode === 'CredentialsUnavailable')) {
        configError = f;
        input?.stream.destroy();
      }
    }
  };
  let dispatcher;
  try {
    dispatcher = new KinesisBatchDispatcher(stream, { ...options, signal: abort.signal, onFailed });
  } catch (error) {
    if (error instanceof KinesisBatchError && error.code === 'InvalidOption')
      throw new UsageError(optionMessage(error));
    throw error;
  }

  input = await openInput(file);
  let failedOut;
  if (values['failed-out'] !== undefined) {
    try {
      failedOut = await open(values['failed-out'], 'w');
    } catch (error) {
      input.stream.destroy();
      throw new UsageError(`cannot write --failed-out ${values['failed-out']}: ${error.message}`);
    }
  }

  // Ctrl-C once: stop reading, deliver what was read. Twice (or SIGTERM): abort; every record not
  // yet acknowledged ends in `failed` (code Aborted) and so in --failed-out. Three times: exit now.
  let interrupted = false;
  let signals = 0;
  const onSignal = (signal) => {
    signals++;
    interrupted = true;
    input.stream.destroy();
    if (signal === 'SIGTERM' || signals === 2) {
      stderr.line('kinesis-batch: aborting; records not yet acknowledged are counted as failed');
      abort.abort(new Error(`interrupted by ${signal}`));
    } else if (signals === 1) {
      stderr.line('kinesis-batch: interrupted; delivering what was read (Ctrl-C again to abort)');
    } else {
      process.exit(EXIT_INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  let lines = 0;
  let rejected = 0;
  const showProgress = !values.quiet && process.stderr.isTTY;
  const drawProgress = () => {
    const p = dispatcher.progress;
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round(p.sent / seconds) : 0;
    stderr.progress(
      `accepted ${number.format(p.accepted)} · sent ${number.format(p.sent)} · failed ${number.format(p.failed)}` +
        ` · rejected ${number.format(rejected)} · ${number.format(rate)} records/s`,
    );
  };
  const ticker = showProgress ? setInterval(drawProgress, 200) : undefined;

  let inputError;
  try {
    for await (const line of readLines(input.stream, limits.resolved.recordCeiling + 1)) {
      if (interrupted || configError) break;
      let record;
      try {
        record = parseLine(line, limits.resolved, checkJson);
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        lines++;
        rejected++;
        lineError(line.lineNo, error.code, error.message);
        continue;
      }
      if (record === undefined) continue;
      lines++;
      try {
        await dispatcher.submitPayload(record);
      } catch (error) {
        if (error instanceof KinesisBatchError && RECORD_CODES.has(error.code)) {
          rejected++;
          lineError(line.lineNo, error.code, error.message);
          continue;
        }
        if (interrupted) break;
        throw error;
      }
    }
  } catch (error) {
    if (!interrupted && !configError) inputError = error;
  }
  if (inputError)
    stderr.line(`kinesis-batch: reading ${input.name} failed: ${inputError.message}; delivering what was read`);

  const report = await dispatcher.flushPayloads();
  if (ticker) clearInterval(ticker);
  stderr.clear();
  const seconds = (performance.now() - started) / 1000;

  const failedByCode = {};
  const firstMessage = {};
  for (const f of failures) {
    failedByCode[f.errorCode] = (failedByCode[f.errorCode] ?? 0) + 1;
    firstMessage[f.errorCode] ??= f.errorMessage;
  }
  if (configError) {
    // One line: the message names the stream, the region and the endpoint.
    stderr.line(`kinesis-batch: ${configError.errorCode}: ${configError.errorMessage}`);
  } else {
    for (const [code, count] of Object.entries(failedByCode)) {
      stderr.line(`failed: ${count} record${count === 1 ? '' : 's'}: ${code}: ${firstMessage[code]}`);
    }
  }
  if (failedOut) {
    const out = failedOut.createWriteStream();
    for (const f of failures) {
      if (!out.write(f.payload)) await new Promise((resolve) => out.once('drain', resolve));
      out.write('\n');
    }
    await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
  }

  const progress = dispatcher.progress;
  const summary = {
    stream,
    endpoint: displayEndpoint(dispatcher.endpoint),
    region: dispatcher.region,
    input: input.name,
    lines,
    accepted: progress.accepted,
    sent: report.sent,
    failed: failures.length,
    rejected,
    requests: report.requests,
    retries: report.retries,
    seconds: round(seconds, 3),
    recordsPerSecond: seconds > 0 ? Math.round(report.sent / seconds) : 0,
    failedByCode,
    failedOut: values['failed-out'] ?? null,
  };
  if (interrupted) summary.interrupted = true;
  if (inputError) summary.inputError = inputError.message;
  if (configError) summary.configurationError = configError.errorCode;
  await writeStdout(`${formatJson(summary)}\n`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (interrupted) return EXIT_INTERRUPTED;
  if (configError) return EXIT_USAGE;
  return failures.length || rejected || inputError ? EXIT_FAILED : EXIT_OK;
}

// ---- plan -----------------------------------------------------------------------------------

function stats(values) {
  if (values.length === 0) return null;
  let min = Infinity;
  let max = 0;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: round(sum / values.length, 1) };
}

async function plan(values, positionals) {
  const [file, ...extra] = positionals;
  if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const field = values['partition-key'];
  if (field === '') throw new UsageError('--partition-key must be a field name');
  const shards = wholeNumber(values, 'shards');

  // The incremental planner behind planBatches, fed one line at a time so that a large input is
  // never held in memory; it reads keys from the lines exactly as `put` does.
  const { shardIndexFor, KinesisBatchError, Plan, checkJson, resolveLimits } = await loadLibrary();
  const limits = limitsFrom(values, resolveLimits);
  const asError = (error) => {
    if (error && error.code === 'InvalidOption') return new UsageError(optionMessage(error));
    return error;
  };
  if (shards !== undefined) {
    try {
      shardIndexFor('k', shards);
    } catch (error) {
      throw error instanceof KinesisBatchError ? asError(error) : error;
    }
  }
  let planner;
  try {
    const aggregation = values.aggregate ? { aggregate: true, shardCount: shards } : {};
    planner = new Plan({ partitionKeyIdentifier: field, ...limits.given, ...aggregation });
  } catch (error) {
    throw asError(error);
  }

  const input = await openInput(file);
  const rejectedLines = [];
  const lineOf = []; // planner index → line number
  const dataBytes = []; // planner index → data bytes
  let lines = 0;
  let result;
  try {
    for await (const line of readLines(input.stream, limits.resolved.recordCeiling + 1)) {
      let record;
      try {
        record = parseLine(line, limits.resolved, checkJson);
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        lines++;
        rejectedLines.push({ line: line.lineNo, code: error.code, message: error.message });
        continue;
      }
      if (record === undefined) continue;
      lines++;
      lineOf.push(line.lineNo);
      dataBytes.push(record.length);
      const refused = planner.add(record, true, undefined, undefined);
      if (refused) rejectedLines.push({ line: line.lineNo, code: refused.code, message: refused.message });
    }
    result = planner.finish();
  } catch (error) {
    throw new UsageError(`reading ${input.name} failed: ${error.message}`);
  } finally {
    planner.free();
  }

  for (const r of rejectedLines) lineError(r.line, r.code, r.message);
  const batches = result.batches;
  const records = batches.reduce((n, b) => n + b.records, 0);
  const output = {
    input: input.name,
    lines,
    records,
    rejected: rejectedLines.length,
    batches: batches.length,
    bytes: batches.reduce((n, b) => n + b.bytes, 0),
    partitionKey: field ?? null,
    limits: {
      maxBatchSize: limits.resolved.maxBatchSize,
      maxRecordBytes: limits.resolved.maxRecordBytes,
      maxRequestBytes: limits.resolved.maxRequestBytes,
    },
    perBatch: { records: stats(batches.map((b) => b.records)), bytes: stats(batches.map((b) => b.bytes)) },
    kinesisRecords: result.kinesisRecords,
    payloadUnits: result.payloadUnits,
  };
  if (shards !== undefined) {
    const recordsPerShard = new Array(shards).fill(0);
    const bytesPerShard = new Array(shards).fill(0);
    const keyBytes = new TextEncoder();
    for (const b of batches) {
      for (let i = 0; i < b.records; i++) {
        const key = b.partitionKeys[i];
        const shard = shardIndexFor(key, shards);
        recordsPerShard[shard]++;
        bytesPerShard[shard] += dataBytes[b.indices[i]] + keyBytes.encode(key).length;
      }
    }
    const { shardRecordsPerSecond, shardBytesPerSecond } = limits.resolved;
    let floor = 0;
    for (let s = 0; s < shards; s++) {
      floor = Math.max(floor, recordsPerShard[s] / shardRecordsPerSecond, bytesPerShard[s] / shardBytesPerSecond);
    }
    Object.assign(output, {
      shards,
      recordsPerShard,
      bytesPerShard,
      minSecondsAtShardLimits: round(floor, 3),
    });
  }
  output.rejectedLines = rejectedLines;
  if (values.batches) {
    output.batchList = batches.map((b) => ({
      records: b.records,
      bytes: b.bytes,
      firstLine: lineOf[b.indices[0]],
      lastLine: lineOf[b.indices[b.records - 1]],
    }));
  }
  await writeStdout(`${formatJson(output)}\n`);
  return rejectedLines.length ? EXIT_FAILED : EXIT_OK;
}

// ---- preview --------------------------------------------------------------------------------

const PREVIEW_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
const PREVIEW_DEFAULT_PORT = 8080;

/**
 * `kinesis-batch preview`: serves the batch preview page the package ships (its www/ folder) on
 * 127.0.0.1 until SIGINT or SIGTERM, then exits 0. Static files only: GET and HEAD, no directory
 * listing, nothing outside www/ except the page's ./vendor/kinesis-batch/ files, which are
 * the package's own core.js and wasm glue and module (the wasm is in the package once).
 */
async function preview(values, positionals) {
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const port = values.port === undefined ? PREVIEW_DEFAULT_PORT : wholeNumber(values, 'port');
  if (port > 65535) throw new UsageError(`--port must be 0..65535, got ${port}`);
  const host = values.host ?? '127.0.0.1';
  if (host === '') throw new UsageError('--host must be a host name or an IP address');

  const [{ createServer }, { createReadStream }, { realpath, stat }, path, { fileURLToPath }] = await Promise.all([
    import('node:http'),
    import('node:fs'),
    import('node:fs/promises'),
    import('node:path'),
    import('node:url'),
  ]);
  const types = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.wasm': 'application/wasm',
    '.json': 'application/json',
    '.webmanifest': 'application/manifest+json',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
    '.txt': 'text/plain; charset=utf-8',
  };
  const packageRoot = await realpath(fileURLToPath(new URL('..', import.meta.url)));
  const vendor = new Map(
    ['core.js', 'timers.js', 'wasm/kinesis_batch.js', 'wasm/kinesis_batch_bg.wasm'].map((f) => [
      `/vendor/kinesis-batch/${f}`,
      path.join(packageRoot, ...f.split('/')),
    ]),
  );
  let root;
  try {
    root = await realpath(path.join(packageRoot, 'www'));
    if (!(await stat(path.join(root, 'index.html'))).isFile()) throw new Error('no index.html');
    for (const file of vendor.values()) await stat(file);
  } catch (error) {
    throw new UsageError(`the package's preview page is missing (${error.message}); build it with \`make build\``);
  }
  const inside = (file) => file === root || file.startsWith(root + path.sep);

  /** The file a URL path names, or null: decoded, normalized, and checked to stay in www/. */
  const fileFor = async (requestUrl) => {
    let rel;
    try {
      rel = decodeURIComponent(new URL(requestUrl, 'http://localhost').pathname);
    } catch {
      return null;
    }
    if (rel.includes('\0') || rel.includes('\\') || !rel.startsWith('/')) return null;
    if (rel.endsWith('/')) rel += 'index.html';
    rel = path.posix.normalize(rel);
    let file = vendor.get(rel);
    if (file === undefined) {
      file = path.resolve(root, `.${rel}`);
      if (!inside(file)) return null;
      file = await realpath(file).catch(() => null); // a link must not lead out of www/ either
      if (file === null || !inside(file)) return null;
    }
    const info = await stat(file).catch(() => null);
    return info?.isFile() ? { file, size: info.size } : null;
  };

  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        return res.end('method not allowed\n');
      }
      const found = await fileFor(req.url);
      if (!found) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
        return res.end('not found\n');
      }
      res.writeHead(200, {
        'content-type': types[path.extname(found.file)] ?? 'application/octet-stream',
        'content-length': found.size,
        // Revalidated on every load, so a newer package is picked up at once; the page's service
        // worker keeps its own copy for offline use.
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cross-origin-resource-policy': 'same-origin',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(found.file)
        .on('error', () => res.destroy())
        .pipe(res);
    } catch {
      if (res.headersSent) return res.destroy();
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    }
  });

  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    if (error.code === 'EADDRINUSE') {
      throw new UsageError(
        `port ${port} on ${host} is in use; pick another with --port N, or --port 0 for any free port`,
      );
    }
    if (['EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EINVAL'].includes(error.code)) {
      throw new UsageError(`cannot listen on ${host} port ${port}: ${error.message}`);
    }
    throw error;
  }

  const address = server.address();
  const shown = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}/`;
  const loopback = /^(127\.|::1$|::ffff:127\.)/.test(address.address);
  if (!loopback)
    stderr.line(`kinesis-batch preview: listening on ${address.address}: other machines can load the page`);
  stderr.line(`kinesis-batch preview: serving ${root} (Ctrl-C to stop)`);
  await writeStdout(`kinesis-batch preview: ${url}\n`);

  // Runs until SIGINT or SIGTERM: stop listening, drop keep-alive connections, exit 0.
  return new Promise((resolve, reject) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve(EXIT_OK));
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    server.on('error', reject);
  });
}

// ---- main -----------------------------------------------------------------------------------

async function main(argv) {
  const command = argv.find((a) => !a.startsWith('-'));
  if (argv.includes('--version') || argv.includes('-V')) {
    await writeStdout(`${version()}\n`);
    return EXIT_OK;
  }
  if (command === undefined || argv.includes('--help') || argv.includes('-h')) {
    if (command === undefined && !argv.includes('--help') && !argv.includes('-h')) {
      process.stderr.write(`${USAGE}\n`);
      return EXIT_USAGE;
    }
    await writeStdout(`${USAGE}\n`);
    return EXIT_OK;
  }
  const commands = { put: [put, PUT_OPTIONS], plan: [plan, PLAN_OPTIONS], preview: [preview, PREVIEW_OPTIONS] };
  if (!Object.hasOwn(commands, command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const [run, options] = commands[command];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  // The command word itself is the first positional.
  const positionals = parsed.positionals.slice();
  positionals.splice(positionals.indexOf(command), 1);
  return run(parsed.values, positionals);
}

// A closed stdout (e.g. `| head -1`) must not turn into a crash; the exit status still tells.
process.stdout.on('error', () => {});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  stderr.clear();
  if (error instanceof UsageError) {
    process.stderr.write(`kinesis-batch: ${error.message}\nRun "kinesis-batch --help" for usage.\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    process.stderr.write(`kinesis-batch: ${error?.stack ?? error}\n`);
    process.exitCode = EXIT_FAILED;
  }
}
