// Shared by the preview-page tests: the sample files, the Node oracle (the package's own
// planBatches, shardIndexFor and hashKeyOf, run on the same file the page reads, each record's
// text as written, as the CLI takes a line), the browser and the page helpers.
import assert from 'node:assert/strict';
import { launchChromium } from '../support/chromium.mjs';
import { startStaticServer } from './static-server.mjs';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { planBatches, shardIndexFor, hashKeyOf } from '../../pkg/node.js';
// The core's own JSON check and limits (the glue node.js has just initialised), for the tests that
// hold the page to the core's answers.
import { checkJson, resolveLimits } from '../../pkg/wasm/kinesis_batch.js';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const wwwDir = path.join(root, 'www');
export const artifacts = path.join(root, 'tests', 'artifacts', 'www');
mkdirSync(artifacts, { recursive: true });

export const SHARD_RECORDS_PER_SECOND = 1000;
export const SHARD_BYTES_PER_SECOND = 1048576;
const TWO_128 = 1n << 128n;

export const launchBrowser = () => launchChromium();

/** One shard of a ListShards answer; a closed one (split) has an ending sequence number. */
export const listedShard = (id, start, end, closed) => ({
  ShardId: id,
  ParentShardId: closed ? undefined : 'shardId-000000000000',
  HashKeyRange: { StartingHashKey: String(start), EndingHashKey: String(end) },
  SequenceNumberRange: {
    StartingSequenceNumber: '49650000000000000000000000000000000000000000000000000000',
    ...(closed ? { EndingSequenceNumber: '49650000000000000000000000000000000000000000000000000001' } : {}),
  },
});

/** The page served from www/ on 127.0.0.1 and a headless Chromium to open it, for one test file. */
export async function servePage() {
  const server = await startStaticServer({ root: wwwDir });
  try {
    return { server, browser: await launchBrowser() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Stops what servePage started (either may be missing when `before` failed). */
export async function stopPage({ server, browser }) {
  await browser?.close();
  await server?.stop();
}

/** Seeded PRNG (mulberry32). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['oak', 'lamp', 'chair', 'table', 'rug', 'vase', 'shelf', 'sofa', 'été', 'Größe', '椅子', '🪑'];

function note(rand, length) {
  let s = '';
  while (s.length < length) s += `${WORDS[Math.floor(rand() * WORDS.length)]} `;
  return s.slice(0, length);
}

/** The customer key of a good record: one hot customer, a long tail, some non-ASCII keys. */
function customer(rand) {
  const r = rand();
  if (r < 0.2) return 'cust-0001';
  if (r < 0.23) return `klient-${Math.floor(rand() * 50)}-é`;
  if (r < 0.24) return Math.floor(rand() * 1000); // a number key
  return `cust-${String(2 + Math.floor(rand() * 4000)).padStart(4, '0')}`;
}

/**
 * The 50,000-record sample: NDJSON, one record per non-blank line, with known bad lines. With
 * identifier 'id' and maxRecordBytes SAMPLE_MAX_RECORD_BYTES, `bad` lists the rejected lines
 * and their codes. Blank lines are not records.
 */
export const SAMPLE_MAX_RECORD_BYTES = 8192;

export function sampleLines(count = 50000, seed = 6) {
  const rand = prng(seed);
  const bad = new Map(); // line -> code
  const special = new Map(); // record number (1-based) -> [text, code | null]
  const at = (n, text, code = null) => special.set(n, [text, code]);
  // Not valid JSON: InvalidJson, the code the core and the CLI give.
  at(17, '{"id": "cust-0002", "seq": 17, "kind": "order",', 'InvalidJson');
  at(2000, '{"id": "cust-0003", "seq": 2000,}', 'InvalidJson');
  at(7777, "{'id': 'cust-0004'}", 'InvalidJson');
  at(12001, 'undefined', 'InvalidJson');
  at(25000, '{"id": "cust-0005", "note": "unterminated}', 'InvalidJson');
  at(49999, '{"id": "cust-0006"} {"id": "cust-0007"}', 'InvalidJson');
  // No key field, or no object at all.
  at(100, JSON.stringify({ seq: 100, kind: 'order' }), 'MissingPartitionKey');
  at(3001, JSON.stringify({ ID: 'cust-0002', seq: 3001 }), 'MissingPartitionKey');
  at(9000, '42', 'MissingPartitionKey');
  at(9001, '"just a string"', 'MissingPartitionKey');
  at(9002, '[1, 2, 3]', 'MissingPartitionKey');
  // Keys the core refuses.
  at(101, JSON.stringify({ id: null, seq: 101 }), 'InvalidPartitionKey');
  at(5005, JSON.stringify({ id: { nested: true }, seq: 5005 }), 'InvalidPartitionKey');
  at(5006, JSON.stringify({ id: '', seq: 5006 }), 'InvalidPartitionKey');
  at(8000, JSON.stringify({ id: 'k'.repeat(257), seq: 8000 }), 'InvalidPartitionKey');
  at(8001, JSON.stringify({ id: '😀'.repeat(129), seq: 8001 }), 'InvalidPartitionKey'); // 258 UTF-16 units
  at(8002, JSON.stringify({ id: '😀'.repeat(128), seq: 8002 }), null); // exactly 256: accepted
  at(8003, JSON.stringify({ id: 'k'.repeat(256), seq: 8003 }), null);
  at(8004, JSON.stringify({ id: true, seq: 8004 }), null);
  // Records as written, not as JSON.stringify would write them: their data is the line itself.
  at(6000, '{"id": 7.50, "seq": 6000}', null); // key "7.50"
  at(6001, '  {"id" : "cust-0002" ,  "seq": 6001 }  ', null); // spaces around and inside
  at(6002, '{"id": 12345678901234567890, "seq": 6002}', null); // more digits than a double keeps
  at(6003, '{"id": "caf\\u00e9", "seq": 6003}', null); // an escape: key "café"; the data keeps the 6-character escape
  at(6004, '{"id": "cust-0003", "seq": 6004}\r', null); // a CRLF line: "\r" is not data
  // Too large for maxRecordBytes 8192 (data + key); one exactly at the limit is accepted.
  for (const n of [300, 18000, 33333, 47000]) {
    at(n, JSON.stringify({ id: 'cust-0009', seq: n, note: 'x'.repeat(9000) }), 'RecordTooLarge');
  }
  {
    const key = 'cust-0010';
    const base = JSON.stringify({ id: key, seq: 40000, note: '' }).length + key.length;
    at(40000, JSON.stringify({ id: key, seq: 40000, note: 'y'.repeat(SAMPLE_MAX_RECORD_BYTES - base) }), null);
  }
  const lines = [];
  for (let n = 1; n <= count; n++) {
    if (n % 9973 === 0) lines.push(''); // blank lines are skipped, not records
    if (n === 20000) lines.push('   \r');
    const s = special.get(n);
    if (s) {
      lines.push(s[0]);
      if (s[1]) bad.set(lines.length, s[1]);
      continue;
    }
    const long = rand() < 0.03;
    const record = {
      id: customer(rand),
      seq: n,
      kind: ['order', 'refund', 'view'][Math.floor(rand() * 3)],
      amount: Math.round(rand() * 100000) / 100,
      note: note(rand, long ? 1000 + Math.floor(rand() * 5000) : 10 + Math.floor(rand() * 200)),
    };
    if (rand() < 0.05) record.tags = ['a', 'b'];
    lines.push(JSON.stringify(record));
  }
  return { lines, bad };
}

export async function writeLines(file, lines) {
  const out = createWriteStream(file);
  for (const line of lines) if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

/**
 * What the library does with an NDJSON text (its lines, split at "\n"), computed in Node with the
 * package itself: { records, invalid: [line], payloads, payloadLines, result (planBatches),
 * rejected: [{ line, code, message }] }. A record's payload is its line as written, without a
 * "\r" before the "\n" (as the CLI reads it): a string, which planBatches sends as its UTF-8
 * bytes and reads the key from. Whether a line is JSON is decided here independently of the
 * core, by Node's JSON.parse.
 */
export function oracleNdjson(lines, options) {
  const payloads = [];
  const payloadLines = [];
  const invalid = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const raw = line.endsWith('\r') ? line.slice(0, -1) : line;
    try {
      JSON.parse(raw);
    } catch {
      invalid.push(i + 1);
      return;
    }
    payloads.push(raw);
    payloadLines.push(i + 1);
  });
  return oracleFor(payloads, payloadLines, invalid, options);
}

/** The oracle for records given as their texts as written (`payloads`, strings) and their lines. */
export function oracleFor(payloads, payloadLines, invalid, options) {
  const result = planBatches(payloads, options);
  const rejected = [
    ...invalid.map((line) => ({ line, code: 'InvalidJson', message: null })),
    ...result.rejected.map((r) => ({ line: payloadLines[r.index], code: r.code, message: r.message })),
  ].sort((a, b) => a.line - b.line);
  const accepted = result.batches.reduce((s, b) => s + b.records, 0);
  const bytes = result.batches.reduce((s, b) => s + b.bytes, 0);
  return {
    payloads,
    payloadLines,
    invalid,
    result,
    rejected,
    accepted,
    bytes,
    records: payloads.length + invalid.length,
  };
}

/** The data bytes of a record (its text as written) as Kinesis stores them: its UTF-8 length. */
export function dataBytes(raw) {
  return Buffer.byteLength(raw, 'utf8');
}

/** Per-shard { counts, bytes } for the oracle's batches, with `shardOf(key)` → index. */
export function shardTotals(oracle, n, shardOf) {
  const counts = new Array(n).fill(0);
  const bytes = new Array(n).fill(0);
  for (const b of oracle.result.batches) {
    b.partitionKeys.forEach((key, j) => {
      const s = shardOf(key);
      counts[s]++;
      bytes[s] += dataBytes(oracle.payloads[b.indices[j]]) + Buffer.byteLength(key, 'utf8');
    });
  }
  return { counts, bytes };
}

export const evenShard = (n) => (key) => shardIndexFor(key, n);

/** Shard index by real ranges, with the package's hashKeyOf and BigInt comparisons. */
export function rangeShard(ranges) {
  const parsed = ranges.map((r) => [BigInt(r.start), BigInt(r.end)]);
  return (key) => {
    const h = BigInt(hashKeyOf(key));
    const i = parsed.findIndex(([s, e]) => s <= h && h <= e);
    assert.ok(i >= 0, `hash key of ${key} in no range`);
    return i;
  };
}

export function evenShardIds(n) {
  return Array.from({ length: n }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
}

/** Whether a shard runs hot at `rate` records/s for the stream, given the file as traffic mix. */
export function hotShards({ counts, bytes }, accepted, rate) {
  return counts.map(
    (c, i) => (rate * c) / accepted > SHARD_RECORDS_PER_SECOND || (rate * bytes[i]) / accepted > SHARD_BYTES_PER_SECOND,
  );
}

export { planBatches, shardIndexFor, hashKeyOf, checkJson, resolveLimits, TWO_128 };

// ---- page helpers ---------------------------------------------------------------------------

/** A new context and page; every request any of them makes is logged in `requests`. */
export async function openPage(browser, origin, { viewport = { width: 1280, height: 800 }, requests = [] } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/`);
  await page.waitForSelector('html[data-ready=true]', { timeout: 60000 });
  return { context, page, errors, requests };
}

/** Fills the settings form: { identifier, maxBatchSize, maxRecordBytes, maxRequestBytes, shardCount, shardList, rate }. */
export async function setSettings(page, s) {
  if (s.identifier !== undefined) {
    if (s.identifier) {
      await page.check('#key-field');
      await page.fill('#identifier', s.identifier);
    } else {
      await page.check('#key-uuid');
    }
  }
  for (const k of ['maxBatchSize', 'maxRecordBytes', 'maxRequestBytes', 'rate', 'stream']) {
    if (s[k] !== undefined) await page.fill(`#${k}`, String(s[k]));
  }
  if (s.shardList !== undefined) {
    await page.check('#shards-ranges');
    await page.fill('#shardList', s.shardList);
  } else if (s.shardCount !== undefined) {
    await page.check('#shards-even');
    await page.fill('#shardCount', String(s.shardCount));
  }
}

/** Waits for a finished plan (and the request body drawn after it), with cheap polling only. */
export async function waitDone(page, timeout = 120000) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, {
    timeout,
    polling: 100,
  });
  const state = await page.getAttribute('body', 'data-state');
  if (state === 'error') throw new Error(`the page reports: ${await page.textContent('#error')}`);
  await page.waitForFunction(
    () =>
      document.getElementById('body').textContent.length > 0 ||
      document.getElementById('body-note').textContent.length > 0,
    null,
    { polling: 100 },
  );
}

/** Waits for a finished plan; returns what the page shows. */
export async function waitPlanned(page, timeout = 120000) {
  await waitDone(page, timeout);
  return readResults(page);
}

export async function readResults(page) {
  return page.evaluate(() => {
    const value = (id) => document.getElementById(id)?.dataset.value;
    const num = (id) => Number(value(id));
    return {
      summary: {
        records: num('sum-records'),
        accepted: num('sum-accepted'),
        rejected: num('sum-rejected'),
        requests: num('sum-requests'),
        bytes: num('sum-bytes'),
        timeMs: num('sum-time'),
        closed: value('sum-closed'),
        text: document.getElementById('summary').innerText,
      },
      shards: [...document.querySelectorAll('#shards-table tbody tr')].map((tr) => ({
        id: tr.dataset.shardId,
        records: Number(tr.dataset.records),
        bytes: Number(tr.dataset.bytes),
        hot: tr.dataset.hot === 'true',
        cells: [...tr.children].map((c) => c.innerText),
      })),
      hotSummary: document.getElementById('hot-summary')?.dataset.hot,
      rejected: [...document.querySelectorAll('#rejected-table tbody tr')].map((tr) => ({
        line: Number(tr.dataset.line),
        code: tr.dataset.code,
        message: tr.children[2].innerText,
        lineText: tr.children[0].innerText,
      })),
      rejectedPager: document.getElementById('rejected-page').innerText,
      batches: [...document.querySelectorAll('#batches-table tbody tr')].map((tr) => ({
        records: Number(tr.dataset.records),
        bytes: Number(tr.dataset.bytes),
      })),
      body: document.getElementById('body').dataset.raw,
      bodyRows: [...document.querySelectorAll('#body-table tbody tr')].map((tr) =>
        [...tr.children].map((c) => c.innerText),
      ),
      error: document.getElementById('error').hidden ? null : document.getElementById('error').innerText,
    };
  });
}

/** Clicks "Download plan" and returns the parsed JSON (saved under tests/artifacts/www/). */
export async function downloadPlan(page, name) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const file = path.join(artifacts, name);
  await download.saveAs(file);
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(file, 'utf8'));
}

export const fmt = (n) => new Intl.NumberFormat('en-US').format(n);
