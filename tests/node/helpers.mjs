// Shared helpers for the package's end-to-end node:test suite (tests/node/*.test.mjs).
// Independent re-implementations only: nothing here calls into the package under test.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const PKG_NODE = path.resolve(here, '../../pkg/node.js');

/** Credentials for kinesalite / kinesis-local, which parse but never verify signatures. */
export const LOCAL_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIDLOCALTEST',
  secretAccessKey: 'local-secret-never-verified',
});

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const utf8len = (s) => Buffer.byteLength(s, 'utf8');
export const utf16len = (s) => s.length;

/** Seeded PRNG (the fault proxy's mulberry32): () => float in [0, 1). */
export { mulberry32 as prng } from '../support/fault-proxy.mjs';

/** An integer in [lo, hi] from rand. */
export const between = (rand, lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

/**
 * The data bytes Kinesis must store for a payload, computed independently of the package:
 * bytes as they are, strings as UTF-8, everything else as JSON.
 */
export function expectedData(payload) {
  if (payload instanceof ArrayBuffer) return Buffer.from(new Uint8Array(payload));
  if (ArrayBuffer.isView(payload)) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/**
 * A fetch that forwards to globalThis.fetch and logs every request as the package sent it:
 * { url, headers (lower-cased names), body (parsed JSON), records: [{ data: Buffer, partitionKey, explicitHashKey }] }.
 * The log entry is pushed synchronously when fetch is called, so log order = send order.
 */
export function recordingFetch(log = []) {
  const fetchImpl = async (url, init = {}) => {
    const headers = {};
    for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
    const text = Buffer.from(init.body).toString('utf8');
    const body = JSON.parse(text);
    log.push({
      url: String(url),
      headers,
      body,
      records: (body.Records ?? []).map((r) => ({
        data: Buffer.from(r.Data, 'base64'),
        partitionKey: r.PartitionKey,
        explicitHashKey: r.ExplicitHashKey,
      })),
    });
    return globalThis.fetch(url, init);
  };
  fetchImpl.log = log;
  return fetchImpl;
}

/** Awaits `promiseOrFn` and asserts it rejects with a KinesisBatchError of `code`. Returns the error. */
export async function rejectsWithCode(promiseOrFn, code, KinesisBatchError) {
  let error;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a KinesisBatchError ${code}, but nothing was thrown`);
  if (KinesisBatchError)
    assert.ok(
      error instanceof KinesisBatchError,
      `expected a KinesisBatchError, got ${error?.name}: ${error?.message}`,
    );
  assert.equal(error.code, code, `expected code ${code}, got ${error.code}: ${error.message}`);
  assert.equal(typeof error.message, 'string');
  return error;
}

/** Synchronous variant for constructors and pure functions. */
export function throwsWithCode(fn, code, KinesisBatchError) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a KinesisBatchError ${code}, but nothing was thrown`);
  if (KinesisBatchError)
    assert.ok(
      error instanceof KinesisBatchError,
      `expected a KinesisBatchError, got ${error?.name}: ${error?.message}`,
    );
  assert.equal(error.code, code, `expected code ${code}, got ${error.code}: ${error.message}`);
  return error;
}

/** Key for multiset comparison of (partitionKey, data). */
export const recordKey = (partitionKey, data) => `${partitionKey}\u0000${Buffer.from(data).toString('base64')}`;

/** Counts of each string in `items`. */
export function countMap(items) {
  const m = new Map();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

/**
 * Asserts two multisets of strings are equal; on failure, says how many are missing/extra and
 * shows a few (truncated), instead of diffing thousands of entries.
 */
export function assertSameMultiset(actual, expected, what = 'records') {
  const a = countMap(actual);
  const e = countMap(expected);
  const missing = [];
  const extra = [];
  for (const [k, n] of e) {
    const got = a.get(k) ?? 0;
    if (got < n) missing.push([k, n - got]);
  }
  for (const [k, n] of a) {
    const want = e.get(k) ?? 0;
    if (n > want) extra.push([k, n - want]);
  }
  const show = (list) =>
    list
      .slice(0, 3)
      .map(([k, n]) => `${n}× ${JSON.stringify(k.slice(0, 120))}`)
      .join('; ');
  assert.ok(
    missing.length === 0 && extra.length === 0 && actual.length === expected.length,
    `${what}: ${actual.length} read, ${expected.length} expected; ` +
      `${missing.length} distinct missing [${show(missing)}], ${extra.length} distinct unexpected [${show(extra)}]`,
  );
}

/** MD5 of the key's UTF-8 bytes as a big-endian unsigned 128-bit BigInt. */
export function md5BigInt(partitionKey) {
  return BigInt('0x' + createHash('md5').update(partitionKey, 'utf8').digest('hex'));
}

const TWO_128 = 1n << 128n;

/** The shard index among n evenly split shards (CreateStream's split: floor(2^128 / n) per shard, the last takes the rest). */
export function evenSplitIndex(hashKey, n) {
  const size = TWO_128 / BigInt(n);
  const i = hashKey / size;
  return Number(i >= BigInt(n) ? BigInt(n - 1) : i);
}

/** shardId-000000000007 → 7 */
export const shardNumber = (shardId) => Number(/(\d+)$/.exec(shardId)[1]);

/**
 * Runs an ES module snippet in a child `node` with exactly `env` (plus PATH), and returns the JSON
 * it prints as its last stdout line. The snippet can import the package from PKG_NODE.
 */
export function runChild(code, { env = {}, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      if (status !== 0) {
        reject(new Error(`child exited with ${status ?? signal}:\n${err}\n${out}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`child printed no JSON (${e.message}):\n${out}\n${err}`));
      }
    });
  });
}

/** Elapsed-time logger for the test output (goes to the TAP diagnostics via t.diagnostic). */
export function timer() {
  const t0 = performance.now();
  return () => Math.round(performance.now() - t0);
}
