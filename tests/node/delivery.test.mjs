// Delivery end to end: KinesisBatchDispatcher → kinesis-local (kinesis-mock), read back byte for byte.
// Issue 2, "Done when": 20,000 records read back byte for byte; with partitionKeyIdentifier the
// keys match the field; without it the keys are distinct UUIDv4s; the report is exactly
// { sent: 20000, failed: [] }. Plus a stream given as an ARN.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesisLocal, readAllRecords } from '../support/servers.mjs';
import { KinesisBatchDispatcher, shardIndexFor } from '../../pkg/node.js';
import {
  LOCAL_CREDENTIALS,
  UUID_V4,
  expectedData,
  recordingFetch,
  recordKey,
  assertSameMultiset,
  shardNumber,
  timer,
} from './helpers.mjs';

const N = 20000;
// kinesis-local writes get slower as a shard fills; more shards make it faster (64: about 600-900 records/s here, 32: about 450-600).
const SHARDS = 64;
// Under load a 500-record request can take seconds; a timeout would mean a retry and duplicates,
// which is not what this file tests (faults.test.mjs does).
const NO_TIMEOUT = 600000;
const ARN_STREAM = 'arnstream';
const ARN = `arn:aws:kinesis:us-east-1:000000000000:stream/${ARN_STREAM}`;

/** Every byte value, rotated per record, at a length that varies per record. */
function allBytes(i) {
  const len = 256 + (i % 64);
  const b = new Uint8Array(len);
  for (let j = 0; j < len; j++) b[j] = (j * 7 + i) & 255; // 7 is odd: 256 consecutive j cover 0..255
  return b;
}

/**
 * Records for the run with partitionKeyIdentifier 'id': [{ payload, options, key }] where key is
 * the partition key Kinesis must store. Objects carry string, number or boolean ids; strings and
 * bytes (which have no fields) name their key per record.
 */
function keyedRecords(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    switch (i % 8) {
      case 0: {
        const id = `order-${i}-é中😀`;
        out.push({ payload: { id, i, name: 'Ünïcödé ✓ — 中文 😀', tags: ['a', 'b'] }, key: id });
        break;
      }
      case 1:
        out.push({ payload: { i, id: i, kind: 'integer id' }, key: String(i) });
        break;
      case 2:
        out.push({ payload: { id: i % 16 === 2, i }, key: String(i % 16 === 2) });
        break;
      case 3: {
        const id = i % 3 === 0 ? -i / 8 : i * 1e17; // '-1.375', '1.9e+21' ...
        out.push({ payload: { id, i }, key: String(id) });
        break;
      }
      case 4: {
        const key = `str-${i}-ключ`;
        out.push({ payload: `línea ${i} → ✓ 😀 中文 "quoted"`, options: { partitionKey: key }, key });
        break;
      }
      case 5:
        out.push({ payload: allBytes(i), options: { partitionKey: `bin-${i}` }, key: `bin-${i}` });
        break;
      case 6: {
        const id = `κλειδί-${i}`;
        out.push({ payload: { id, text: 'quote " backslash \\ newline \n tab \t nul \u0000 ∑ 😀' }, key: id });
        break;
      }
      case 7: {
        // An ArrayBuffer, and a Uint8Array view that starts inside a bigger buffer.
        const whole = allBytes(i);
        const payload = i % 16 === 7 ? whole.buffer.slice(0, 1 + (i % 200)) : whole.subarray(5, 5 + 1 + (i % 200));
        out.push({ payload, options: { partitionKey: `view-${i}` }, key: `view-${i}` });
        break;
      }
    }
  }
  return out;
}

/** Records for the run without an identifier: every payload kind, keys chosen by the package. */
function unkeyedPayloads(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    switch (i % 8) {
      case 0:
        out.push({ i, name: 'Ünïcödé ✓ — 中文 😀', nested: { deep: [1, 2.5, null, true] } });
        break;
      case 1:
        out.push(`plain text ${i} é € 😀 中文`);
        break;
      case 2:
        out.push(allBytes(i));
        break;
      case 3:
        out.push(allBytes(i).buffer);
        break;
      case 4:
        out.push([i, 'array', { x: 'ß' }]);
        break;
      case 5:
        out.push(i * 1.5);
        break;
      case 6:
        out.push(i % 2 === 0);
        break;
      case 7:
        out.push(i % 3 === 0 ? null : { id: `ignored-${i}`, i });
        break;
    }
  }
  return out;
}

async function submitAll(dispatcher, records) {
  for (const r of records) await dispatcher.submitPayload(r.payload, r.options);
}

describe('delivery to kinesis-local', () => {
  let kl;
  before(async () => {
    kl = await startKinesisLocal({
      streams: { keyed: SHARDS, uuid: SHARDS, [ARN_STREAM]: 2 },
      env: { CREATE_STREAM_DURATION: '0ms' },
    });
  });
  after(async () => {
    await kl?.stop();
  });

  test(`${N} records with partitionKeyIdentifier: read back byte for byte, keys match the field`, {
    timeout: 600000,
  }, async (t) => {
    const records = keyedRecords(N);
    const fetch = recordingFetch();
    const progress = [];
    const kn = new KinesisBatchDispatcher('keyed', {
      region: 'us-east-1',
      endpoint: kl.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
      partitionKeyIdentifier: 'id',
      onProgress: (p) => progress.push(p),
      requestTimeoutMs: NO_TIMEOUT,
    });
    const elapsed = timer();
    await submitAll(kn, records);
    const report = await kn.flushPayloads();
    const sendMs = elapsed();

    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: N, failed: [] });
    // kinesis-local never throttles: 40 full batches of 500 small records, no retries.
    assert.equal(report.requests, N / 500);
    assert.equal(report.retries, 0);
    assert.equal(fetch.log.length, report.requests, 'one fetch per counted request');
    for (const req of fetch.log) {
      assert.equal(req.body.StreamName, 'keyed');
      assert.equal(req.body.StreamARN, undefined);
      assert.ok(req.records.length <= 500);
      assert.equal(req.headers['content-type'], 'application/x-amz-json-1.1');
      assert.equal(req.headers['x-amz-target'], 'Kinesis_20131202.PutRecords');
      assert.match(
        req.headers.authorization,
        /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-east-1\/kinesis\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
      );
    }
    const last = progress.at(-1);
    assert.deepEqual(
      { accepted: last.accepted, sent: last.sent, failed: last.failed, inFlight: last.inFlight },
      { accepted: N, sent: N, failed: 0, inFlight: 0 },
    );

    const readElapsed = timer();
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'keyed' });
    t.diagnostic(
      `sent ${N} in ${sendMs} ms (${Math.round((N / sendMs) * 1000)} records/s), read back in ${readElapsed()} ms`,
    );
    assert.equal(stored.length, N);
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      records.map((r) => recordKey(r.key, expectedData(r.payload))),
      '(partition key, data) pairs',
    );
    // The stored keys cover strings (multi-byte), numbers and booleans as the field's String().
    const keys = new Set(stored.map((r) => r.partitionKey));
    const ids = records.filter((r) => r.payload?.id !== undefined).map((r) => r.payload.id);
    const sample = [
      ids.find((v) => v === true),
      ids.find((v) => v === false),
      ids.find((v) => Number.isInteger(v) && v < 1e6),
      ids.find((v) => typeof v === 'number' && v < 0 && !Number.isInteger(v)),
      ids.find((v) => typeof v === 'number' && String(v).includes('e+')),
      'order-0-é中😀',
      'κλειδί-6',
    ];
    for (const v of sample) {
      assert.notEqual(v, undefined, 'the generator covers every key kind');
      assert.ok(keys.has(String(v)), `key ${String(v)} stored`);
    }
    // Each record is on the shard its key hashes to among evenly split shards.
    for (const r of stored)
      assert.equal(shardNumber(r.shardId), shardIndexFor(r.partitionKey, SHARDS), `shard of ${r.partitionKey}`);
  });

  test(`${N} records without an identifier: distinct UUIDv4 keys, read back byte for byte`, {
    timeout: 600000,
  }, async (t) => {
    const payloads = unkeyedPayloads(N);
    const fetch = recordingFetch();
    const kn = new KinesisBatchDispatcher('uuid', {
      region: 'us-east-1',
      endpoint: kl.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
      requestTimeoutMs: NO_TIMEOUT,
    });
    const elapsed = timer();
    for (const p of payloads) await kn.submitPayload(p);
    const report = await kn.flushPayloads();
    const sendMs = elapsed();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: N, failed: [] });
    assert.equal(report.requests, N / 500);
    assert.equal(report.retries, 0);

    // What the package sent: keys are UUIDv4, all distinct, and the data is each payload's bytes in order.
    const sent = fetch.log.flatMap((req) => req.records);
    assert.equal(sent.length, N);
    for (const r of sent) assert.match(r.partitionKey, UUID_V4);
    assert.equal(new Set(sent.map((r) => r.partitionKey)).size, N, 'UUIDs are distinct');
    sent.forEach((r, i) => {
      assert.ok(r.data.equals(expectedData(payloads[i])), `request data of payload ${i}`);
    });

    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'uuid' });
    t.diagnostic(`sent ${N} in ${sendMs} ms (${Math.round((N / sendMs) * 1000)} records/s)`);
    assert.equal(stored.length, N);
    for (const r of stored) assert.match(r.partitionKey, UUID_V4);
    assert.equal(new Set(stored.map((r) => r.partitionKey)).size, N);
    // Byte for byte, and each stored key carries the data that was sent with it.
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      sent.map((r) => recordKey(r.partitionKey, r.data)),
      '(uuid, data) pairs',
    );
    assertSameMultiset(
      stored.map((r) => r.data.toString('base64')),
      payloads.map((p) => expectedData(p).toString('base64')),
      'data',
    );
  });

  test('a stream given as an ARN goes in as StreamARN and is delivered', { timeout: 120000 }, async () => {
    const fetch = recordingFetch();
    // No region option: it comes from the ARN. The explicit endpoint wins over the ARN's default.
    const kn = new KinesisBatchDispatcher(ARN, {
      endpoint: kl.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
      maxBatchSize: 100,
    });
    assert.equal(kn.region, 'us-east-1');
    const payloads = Array.from({ length: 250 }, (_, i) => ({ arn: true, i, t: 'ü😀' }));
    for (const p of payloads) await kn.submitPayload(p);
    const report = await kn.flushPayloads();
    assert.deepEqual(
      { sent: report.sent, failed: report.failed, requests: report.requests },
      { sent: 250, failed: [], requests: 3 },
    );
    for (const req of fetch.log) {
      assert.equal(req.url.replace(/\/$/, ''), kl.endpoint);
      assert.equal(req.body.StreamARN, ARN);
      assert.equal('StreamName' in req.body, false, 'only StreamARN names the stream');
      assert.match(req.headers.authorization, /\/us-east-1\/kinesis\/aws4_request/);
    }
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: ARN_STREAM });
    assertSameMultiset(
      stored.map((r) => r.data.toString('base64')),
      payloads.map((p) => expectedData(p).toString('base64')),
      'data',
    );
  });
});
