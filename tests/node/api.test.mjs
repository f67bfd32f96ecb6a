// The public JS API contract (README.md, index.d.ts): exports, hashKeyOf, shardIndexFor, planBatches,
// option validation, the report invariant across flushes, payload encodings, and region and
// credentials from the environment (in child processes with a controlled environment).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKinesalite, readAllRecords, kinesisCall } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import * as pkg from '../../pkg/node.js';
import {
  PKG_NODE,
  LOCAL_CREDENTIALS,
  UUID_V4,
  expectedData,
  recordingFetch,
  rejectsWithCode,
  throwsWithCode,
  md5BigInt,
  evenSplitIndex,
  prng,
  between,
  utf8len,
  runChild,
} from './helpers.mjs';

const { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } = pkg;
const TWO_128 = 1n << 128n;

/** Random keys: ASCII, multi-byte, astral, up to 256 UTF-16 units. */
function randomKeys(seed, count) {
  const rand = prng(seed);
  const chars = ['a', 'z', '0', '-', '_', ' ', 'é', 'ß', '€', '中', '😀', '🎉', '\u0000', '"'];
  const keys = ['pk-1', 'a', 'é', '😀', 'x'.repeat(256), '😀'.repeat(128)];
  while (keys.length < count) {
    let k = '';
    const len = between(rand, 1, 40);
    for (let i = 0; i < len; i++) k += chars[between(rand, 0, chars.length - 1)];
    keys.push(k);
  }
  return keys;
}

describe('exports and pure functions', () => {
  test('the contract names are exported', () => {
    for (const name of ['KinesisBatchDispatcher', 'planBatches', 'hashKeyOf', 'shardIndexFor', 'KinesisBatchError']) {
      assert.equal(typeof pkg[name], 'function', `${name} is exported`);
    }
    const e = new KinesisBatchError('RecordTooLarge', 'too big');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'KinesisBatchError');
    assert.equal(e.code, 'RecordTooLarge');
    assert.equal(e.message, 'too big');
  });

  test("hashKeyOf is the decimal big-endian u128 of the key's UTF-8 MD5", () => {
    assert.equal(hashKeyOf('pk-1'), '273922656776327812788301823748127981641');
    for (const key of randomKeys(1, 500)) assert.equal(hashKeyOf(key), md5BigInt(key).toString(), JSON.stringify(key));
    throwsWithCode(() => hashKeyOf(42), 'InvalidOption', KinesisBatchError);
  });

  test('shardIndexFor agrees with an independent even split (floor(2^128/n) per shard)', () => {
    const keys = randomKeys(2, 400);
    for (const n of [1, 2, 3, 4, 5, 7, 8, 10, 16, 31, 64, 100, 1000, 99999, 100000]) {
      for (const key of keys)
        assert.equal(shardIndexFor(key, n), evenSplitIndex(md5BigInt(key), n), `${JSON.stringify(key)} among ${n}`);
    }
    // Every index is reachable and in range.
    const hits = new Set(keys.map((k) => shardIndexFor(k, 4)));
    assert.deepEqual([...hits].sort(), [0, 1, 2, 3]);
    for (const bad of [0, -1, 1.5, NaN, Infinity, 100001]) {
      throwsWithCode(() => shardIndexFor('k', bad), 'InvalidOption', KinesisBatchError);
    }
    throwsWithCode(() => shardIndexFor(7, 4), 'InvalidOption', KinesisBatchError);
  });

  test('planBatches: shape, batches and rejections by index', () => {
    const payloads = [
      { id: 'a', v: 1 }, // 0
      { v: 2 }, // 1 MissingPartitionKey
      { id: 'b' }, // 2
      { id: 'c', big: 'x'.repeat(2000) }, // 3 RecordTooLarge (maxRecordBytes 1000)
      'a string has no field', // 4 MissingPartitionKey
      { id: null }, // 5 InvalidPartitionKey
      { id: '😀'.repeat(129) }, // 6 InvalidPartitionKey
      { id: 10n }, // 7 UnserializablePayload
      { id: 7 }, // 8
      { id: { nested: true } }, // 9 InvalidPartitionKey
      { id: true }, // 10
    ];
    const plan = planBatches(payloads, { partitionKeyIdentifier: 'id', maxBatchSize: 2, maxRecordBytes: 1000 });
    assert.ok(Array.isArray(plan.batches) && Array.isArray(plan.rejected));
    const size = (p, key) => utf8len(JSON.stringify(p)) + utf8len(key);
    assert.deepEqual(
      plan.batches.map(({ records, bytes, partitionKeys }) => ({ records, bytes, partitionKeys })),
      [
        { records: 2, bytes: size(payloads[0], 'a') + size(payloads[2], 'b'), partitionKeys: ['a', 'b'] },
        { records: 2, bytes: size(payloads[8], '7') + size(payloads[10], 'true'), partitionKeys: ['7', 'true'] },
      ],
    );
    assert.deepEqual(
      plan.rejected.map(({ index, code }) => [index, code]),
      [
        [1, 'MissingPartitionKey'],
        [3, 'RecordTooLarge'],
        [4, 'MissingPartitionKey'],
        [5, 'InvalidPartitionKey'],
        [6, 'InvalidPartitionKey'],
        [7, 'UnserializablePayload'],
        [9, 'InvalidPartitionKey'],
      ],
    );
    for (const r of plan.rejected) {
      assert.equal(typeof r.message, 'string');
      assert.ok(r.message.length > 0);
    }

    // Without an identifier: random UUIDv4 keys (36 bytes each), distinct.
    const free = planBatches(
      Array.from({ length: 1200 }, (_, i) => ({ i })),
      {},
    );
    assert.deepEqual(
      free.batches.map((b) => b.records),
      [500, 500, 200],
    );
    const keys = free.batches.flatMap((b) => b.partitionKeys);
    for (const k of keys) assert.match(k, UUID_V4);
    assert.equal(new Set(keys).size, 1200);
    assert.equal(
      free.batches[2].bytes,
      Array.from({ length: 200 }, (_, j) => utf8len(JSON.stringify({ i: 1000 + j })) + 36).reduce((a, b) => a + b),
    );
    const none = planBatches([], {});
    assert.deepEqual([none.batches, none.rejected], [[], []]);
    // Bytes count as they are; maxRequestBytes closes batches.
    const bytes = planBatches([new Uint8Array(60), new ArrayBuffer(60), new Uint8Array(10)], { maxRequestBytes: 100 });
    // 60 + 36 (UUID) = 96 each; 96 + 96 and 96 + 46 are both over 100.
    assert.deepEqual(
      bytes.batches.map((b) => [b.records, b.bytes]),
      [
        [1, 96],
        [1, 96],
        [1, 46],
      ],
    );
  });

  test('planBatches with aggregate: totals, shards, hot keys and option checks', () => {
    const payloads = Array.from({ length: 300 }, (_, i) => ({ id: i % 3 ? `k${i % 10}` : 'hot', pad: 'x'.repeat(i) }));
    const off = planBatches(payloads, { partitionKeyIdentifier: 'id', shardCount: 2 });
    const on = planBatches(payloads, { partitionKeyIdentifier: 'id', shardCount: 2, aggregate: true });
    const sizes = payloads.map((p) => utf8len(JSON.stringify(p)) + utf8len(p.id));
    assert.equal(off.requests, off.batches.length);
    assert.equal(off.kinesisRecords, 300);
    assert.equal(
      off.payloadUnits,
      sizes.reduce((a, s) => a + Math.max(1, Math.ceil(s / 25600)), 0),
    );
    assert.ok(on.kinesisRecords < 20 && on.kinesisRecords >= 2, String(on.kinesisRecords));
    assert.equal(
      on.batches.reduce((a, b) => a + b.records, 0),
      300,
    );
    assert.equal(
      on.batches.reduce((a, b) => a + b.kinesisRecords, 0),
      on.kinesisRecords,
    );
    assert.deepEqual(
      on.shards.map((s) => s.shardId),
      ['shardId-000000000000', 'shardId-000000000001'],
    );
    const hot = on.shards[shardIndexFor('hot', 2)].hotKeys[0];
    assert.deepEqual(
      { ...hot },
      {
        partitionKey: 'hot',
        records: 100,
        bytes: sizes.filter((_, i) => i % 3 === 0).reduce((a, b) => a + b, 0),
      },
    );
    assert.deepEqual(
      off.shards.map((s) => s.hotKeys),
      on.shards.map((s) => s.hotKeys),
    );
    assert.deepEqual(planBatches(payloads, { partitionKeyIdentifier: 'id' }).shards, []);
    for (const bad of [
      { maxAggregateBytes: 10 },
      { shardCount: 0 },
      { listShards: '{' },
      { listShards: { Shards: [] } },
    ])
      throwsWithCode(() => planBatches([], bad), 'InvalidOption', KinesisBatchError);
  });

  test('planBatches and the constructor refuse bad options with InvalidOption', () => {
    throwsWithCode(() => planBatches([], { maxBatchSize: 0 }), 'InvalidOption', KinesisBatchError);
    throwsWithCode(() => planBatches([], { maxRequestBytes: 10485761 }), 'InvalidOption', KinesisBatchError);
    throwsWithCode(() => planBatches(42, {}), 'InvalidOption', KinesisBatchError);
    throwsWithCode(() => planBatches([], { partitionKeyIdentifier: '' }), 'InvalidOption', KinesisBatchError);

    const base = { region: 'us-east-1', credentials: LOCAL_CREDENTIALS };
    const cases = [
      ['maxBatchSize', { maxBatchSize: 0 }],
      ['maxBatchSize', { maxBatchSize: 501 }],
      ['maxBatchSize', { maxBatchSize: 2.5 }],
      ['maxBatchSize', { maxBatchSize: -1 }],
      ['maxBatchSize', { maxBatchSize: NaN }],
      ['maxBatchSize', { maxBatchSize: '10' }],
      ['maxRecordBytes', { maxRecordBytes: 10485761 }],
      ['maxRecordBytes', { maxRecordBytes: 0 }],
      ['maxRequestBytes', { maxRequestBytes: 10485761 }],
      ['maxAttempts', { maxAttempts: 0 }],
      ['retryMaxDelayMs', { retryBaseDelayMs: 100, retryMaxDelayMs: 50 }],
      ['maxInFlight', { maxInFlight: 0 }],
      ['endpoint', { endpoint: 'ftp://127.0.0.1:4567' }],
      ['endpoint', { endpoint: 'not a url' }],
      ['endpoint', { endpoint: 'http://' }],
      ['endpoint', { endpoint: 'http://127.0.0.1:port' }],
      ['endpoint', { endpoint: 'http://user@127.0.0.1' }],
      ['endpoint', { endpoint: 'http://127.0.0.1/?q=1' }],
      ['region', { region: 'us east 1' }],
      ['fetch', { fetch: 'not a function' }],
      ['partitionKeyIdentifier', { partitionKeyIdentifier: '' }],
      ['onProgress', { onProgress: 42 }],
      ['credentials', { credentials: { accessKeyId: '', secretAccessKey: 'x' } }],
    ];
    for (const [option, opts] of cases) {
      const err = throwsWithCode(
        () => new KinesisBatchDispatcher('s', { ...base, ...opts }),
        'InvalidOption',
        KinesisBatchError,
      );
      assert.equal(err.option, option, `${JSON.stringify(opts)} names ${option} (message: ${err.message})`);
      assert.ok(!err.message.includes(LOCAL_CREDENTIALS.secretAccessKey));
    }
    for (const stream of [
      'bad name!',
      '',
      'a'.repeat(129),
      'arn:aws:kinesis:us-east-1:123:stream/x',
      'arn:aws:s3:us-east-1:123456789012:stream/x',
      'arn:aws:kinesis:us-east-1:123456789012:table/x',
      'arn:aws:kinesis:us-east-1:123456789012:stream/bad name',
    ]) {
      const err = throwsWithCode(() => new KinesisBatchDispatcher(stream, base), 'InvalidOption', KinesisBatchError);
      assert.equal(err.option, 'stream', JSON.stringify(stream));
    }
    throwsWithCode(() => new KinesisBatchDispatcher(42, base), 'InvalidOption', KinesisBatchError);
    // A region that contradicts the ARN's.
    const err = throwsWithCode(
      () => new KinesisBatchDispatcher('arn:aws:kinesis:eu-west-1:123456789012:stream/s', base),
      'InvalidOption',
      KinesisBatchError,
    );
    assert.equal(err.option, 'region');

    // The limits' edges are accepted, and endpoints are as documented.
    const ok = new KinesisBatchDispatcher('a'.repeat(128), {
      ...base,
      maxBatchSize: 500,
      maxRecordBytes: 10485760,
      maxRequestBytes: 10485760,
    });
    assert.equal(ok.endpoint.replace(/\/$/, ''), 'https://kinesis.us-east-1.amazonaws.com');
    new KinesisBatchDispatcher('s', { ...base, maxBatchSize: 1, maxRecordBytes: 1, maxRequestBytes: 1 });
    const arn = new KinesisBatchDispatcher('arn:aws:kinesis:eu-west-1:123456789012:stream/s', {
      credentials: LOCAL_CREDENTIALS,
    });
    assert.equal(arn.region, 'eu-west-1');
    assert.equal(arn.endpoint.replace(/\/$/, ''), 'https://123456789012.data-kinesis.eu-west-1.amazonaws.com');
    const custom = new KinesisBatchDispatcher('arn:aws:kinesis:eu-west-1:123456789012:stream/s', {
      credentials: LOCAL_CREDENTIALS,
      endpoint: 'http://127.0.0.1:9/',
    });
    assert.equal(custom.endpoint, 'http://127.0.0.1:9/', 'an explicit endpoint wins');
  });
});

describe('the dispatcher against kinesalite', () => {
  let kls, proxy;
  let decide = () => ({ type: 'pass' });
  before(async () => {
    kls = await startKinesalite({ streams: { plan: 2, flushes: 2, enc: 4, ehk: 4, shards7: 7 } });
    proxy = await startFaultProxy({ target: kls.endpoint, decide: (ctx) => decide(ctx) });
  });
  after(async () => {
    await proxy?.stop();
    await kls?.stop();
  });

  test('shardIndexFor matches the shard ranges a real CreateStream made', async () => {
    const { Shards } = await kinesisCall({
      endpoint: kls.endpoint,
      action: 'ListShards',
      body: { StreamName: 'shards7' },
    });
    assert.equal(Shards.length, 7);
    const ranges = Shards.map((s) => [BigInt(s.HashKeyRange.StartingHashKey), BigInt(s.HashKeyRange.EndingHashKey)]);
    assert.equal(ranges.at(-1)[1], TWO_128 - 1n);
    for (const key of randomKeys(3, 300)) {
      const h = md5BigInt(key);
      const index = ranges.findIndex(([s, e]) => h >= s && h <= e);
      assert.equal(shardIndexFor(key, 7), index, JSON.stringify(key));
    }
  });

  test('planBatches predicts the batches the dispatcher sends', async () => {
    const rand = prng(11);
    const payloads = Array.from({ length: 700 }, (_, i) =>
      i % 50 === 13 ? { noId: i } : { id: `k${between(rand, 0, 99)}-é`, i, pad: 'ü'.repeat(between(rand, 0, 400)) },
    );
    const options = { partitionKeyIdentifier: 'id', maxBatchSize: 40, maxRequestBytes: 12000 };
    const plan = planBatches(payloads, options);
    const fetch = recordingFetch();
    const kn = new KinesisBatchDispatcher('plan', {
      region: 'us-east-1',
      endpoint: kls.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
      ...options,
    });
    const rejected = [];
    for (const [index, p] of payloads.entries()) {
      try {
        await kn.submitPayload(p);
      } catch (e) {
        rejected.push({ index, code: e.code });
      }
    }
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 700 - rejected.length, failed: [] });
    assert.deepEqual(
      plan.rejected.map(({ index, code }) => ({ index, code })),
      rejected,
    );
    assert.equal(fetch.log.length, plan.batches.length);
    assert.deepEqual(
      fetch.log.map((req) => ({
        records: req.records.length,
        bytes: req.records.reduce((a, r) => a + r.data.length + utf8len(r.partitionKey), 0),
        partitionKeys: req.records.map((r) => r.partitionKey),
      })),
      plan.batches.map(({ records, bytes, partitionKeys }) => ({ records, bytes, partitionKeys })),
    );
  });

  test('each report covers only its own flush; sent + failed = accepted across flushes', async () => {
    const id = (data) => JSON.parse(Buffer.from(data, 'base64').toString('utf8')).i;
    // Records whose i % 10 === 3 fail with PTE; with maxAttempts 1 that is final.
    let failing = false;
    decide = ({ records }) => {
      if (!failing) return { type: 'pass' };
      const indices = records.flatMap((r, k) => (id(r.Data) % 10 === 3 ? [k] : []));
      return indices.length
        ? { type: 'failRecords', indices, code: 'ProvisionedThroughputExceededException' }
        : { type: 'pass' };
    };
    const progress = [];
    const kn = new KinesisBatchDispatcher('flushes', {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      maxBatchSize: 10,
      maxAttempts: 1,
      onProgress: (p) => progress.push(p),
    });
    // The contract's report fields (the report may be extended, so compare these only).
    const fields = ({ sent, requests, retries, failed }) => ({ sent, requests, retries, failed });
    const empty = await kn.flushPayloads();
    assert.deepEqual(fields(empty), { sent: 0, requests: 0, retries: 0, failed: [] });

    let next = 0;
    const submit = async (count) => {
      const list = [];
      for (let k = 0; k < count; k++) {
        const p = { i: next++ };
        await kn.submitPayload(p);
        list.push(p);
      }
      return list;
    };
    // A full batch goes out in the background, before any flush.
    const firstRequest = proxy.requests.length;
    await submit(10);
    for (let t = 0; t < 800 && proxy.requests.length === firstRequest; t++) await sleep(25);
    assert.equal(proxy.requests.length, firstRequest + 1, 'a full batch is sent without a flush');
    await submit(15);
    const r1 = await kn.flushPayloads();
    assert.deepEqual(fields(r1), { sent: 25, requests: 3, retries: 0, failed: [] });

    failing = true;
    const second = await submit(30);
    // An invalid record in between is refused and changes nothing.
    await rejectsWithCode(kn.submitPayload({ i: -1 }, { partitionKey: '' }), 'InvalidPartitionKey', KinesisBatchError);
    const r2 = await kn.flushPayloads();
    assert.equal(r2.sent, 27);
    assert.equal(r2.requests, 3);
    assert.deepEqual(
      r2.failed.map((f) => [f.payload.i, f.errorCode, f.attempts]),
      [
        [33, 'ProvisionedThroughputExceededException', 1],
        [43, 'ProvisionedThroughputExceededException', 1],
        [53, 'ProvisionedThroughputExceededException', 1],
      ],
    );
    for (const f of r2.failed) {
      for (const [k, type] of Object.entries({
        partitionKey: 'string',
        errorCode: 'string',
        errorMessage: 'string',
        attempts: 'number',
      })) {
        assert.equal(typeof f[k], type, `failed[].${k}`);
      }
      assert.equal(f.payload, second[f.payload.i - 25], '`payload` is the submitted object itself');
      assert.match(f.partitionKey, UUID_V4);
      assert.match(f.errorMessage, /Rate exceeded/);
    }

    failing = false;
    await submit(15);
    const r3 = await kn.flushPayloads();
    assert.deepEqual(fields(r3), { sent: 15, requests: 2, retries: 0, failed: [] }, 'failures are not carried over');
    const r4 = await kn.flushPayloads();
    assert.deepEqual(fields(r4), { sent: 0, requests: 0, retries: 0, failed: [] });

    const total = [r1, r2, r3, r4].reduce((a, r) => a + r.sent + r.failed.length, 0);
    assert.equal(total, 70);
    assert.deepEqual(kn.progress.accepted, 70);
    const last = progress.at(-1);
    assert.deepEqual(
      { accepted: last.accepted, sent: last.sent, failed: last.failed, inFlight: last.inFlight, retries: last.retries },
      { accepted: 70, sent: 67, failed: 3, inFlight: 0, retries: 0 },
    );
    const stored = await readAllRecords({ endpoint: kls.endpoint, stream: 'flushes' });
    assert.deepEqual(
      stored.map((r) => JSON.parse(r.data).i).sort((a, b) => a - b),
      Array.from({ length: 70 }, (_, i) => i).filter((i) => !(i >= 25 && i < 55 && i % 10 === 3)),
    );
  });

  test('payload encodings: objects as JSON, strings as UTF-8, bytes raw; unserializable values refused', async () => {
    const backing = Uint8Array.from({ length: 300 }, (_, j) => (j * 31 + 7) & 255);
    const date = new Date(Date.UTC(2026, 10, 1, 12, 0, 0));
    const payloads = [
      { a: 1, b: 'é 😀', c: [true, null] },
      [1, 'two', { three: 3 }],
      42,
      1.5,
      -0,
      true,
      false,
      null,
      'text é € 😀 中文',
      'line\nwith "quotes" and \\ backslash',
      Uint8Array.from({ length: 256 }, (_, j) => j),
      Buffer.from('a Node Buffer ✓'),
      backing.buffer,
      backing.subarray(17, 99),
      new Int16Array([1, -1, 256, -32768]),
      new DataView(backing.buffer, 5, 11),
      date,
      { toJSON: () => ({ custom: 'json' }) },
    ];
    const fetch = recordingFetch();
    const kn = new KinesisBatchDispatcher('enc', {
      region: 'us-east-1',
      endpoint: kls.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
    });
    for (const [i, p] of payloads.entries()) await kn.submitPayload(p, { partitionKey: `enc-${i}` });

    const cyclic = { name: 'loop' };
    cyclic.self = cyclic;
    for (const bad of [10n, { big: 10n }, cyclic, () => 1, undefined, Symbol('s')]) {
      await rejectsWithCode(kn.submitPayload(bad), 'UnserializablePayload', KinesisBatchError);
    }
    assert.equal(kn.progress.accepted, payloads.length, 'refused payloads are not accepted');
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: payloads.length, failed: [] });

    const expected = new Map(payloads.map((p, i) => [`enc-${i}`, expectedData(p)]));
    // Spot checks of the independent expectation itself.
    assert.equal(expected.get('enc-2').toString(), '42');
    assert.equal(expected.get('enc-4').toString(), '0');
    assert.equal(expected.get('enc-7').toString(), 'null');
    assert.equal(expected.get('enc-14').length, 8);
    assert.equal(expected.get('enc-16').toString(), JSON.stringify(date.toISOString()));
    assert.equal(expected.get('enc-17').toString(), '{"custom":"json"}');
    const sent = new Map(fetch.log.flatMap((r) => r.records).map((r) => [r.partitionKey, r.data]));
    const stored = await readAllRecords({ endpoint: kls.endpoint, stream: 'enc' });
    assert.equal(stored.length, payloads.length);
    for (const r of stored) {
      assert.ok(
        r.data.equals(expected.get(r.partitionKey)),
        `${r.partitionKey}: stored ${r.data.toString('hex').slice(0, 40)} expected ${expected.get(r.partitionKey).toString('hex').slice(0, 40)}`,
      );
      assert.ok(sent.get(r.partitionKey).equals(r.data));
    }
  });

  test('explicitHashKey: validated at submit, sent as ExplicitHashKey, decides the shard', async () => {
    const fetch = recordingFetch();
    const kn = new KinesisBatchDispatcher('ehk', {
      region: 'us-east-1',
      endpoint: kls.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
    });
    const max = (TWO_128 - 1n).toString();
    for (const bad of ['340282366920938463463374607431768211456', '01', '-1', '1.5', 'abc', '', ' 1']) {
      await rejectsWithCode(
        kn.submitPayload({ bad }, { explicitHashKey: bad }),
        'InvalidExplicitHashKey',
        KinesisBatchError,
      );
    }
    await rejectsWithCode(
      kn.submitPayload({ bad: 1 }, { explicitHashKey: 12 }),
      'InvalidExplicitHashKey',
      KinesisBatchError,
    );
    await kn.submitPayload({ at: 'zero' }, { partitionKey: 'same', explicitHashKey: '0' });
    await kn.submitPayload({ at: 'max' }, { partitionKey: 'same', explicitHashKey: max });
    await kn.submitPayload({ at: 'bigint' }, { partitionKey: 'same', explicitHashKey: TWO_128 / 2n });
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 3, failed: [] });
    assert.deepEqual(
      fetch.log[0].records.map((r) => r.explicitHashKey),
      ['0', max, (TWO_128 / 2n).toString()],
    );
    const stored = await readAllRecords({ endpoint: kls.endpoint, stream: 'ehk' });
    const shardOf = Object.fromEntries(stored.map((r) => [JSON.parse(r.data).at, r.shardId]));
    assert.deepEqual(shardOf, {
      zero: 'shardId-000000000000',
      max: 'shardId-000000000003',
      bigint: 'shardId-000000000002',
    });
  });

  test('partition keys from a field: strings, numbers and booleans; other values refused', async () => {
    const fetch = recordingFetch();
    const kn = new KinesisBatchDispatcher('enc', {
      region: 'us-east-1',
      endpoint: kls.endpoint,
      credentials: LOCAL_CREDENTIALS,
      fetch,
      partitionKeyIdentifier: 'id',
    });
    const good = [
      ['é-string', 'é-string'],
      [12, '12'],
      [-3.25, '-3.25'],
      [1e21, '1e+21'],
      [false, 'false'],
      [true, 'true'],
    ];
    for (const [id] of good) await kn.submitPayload({ id });
    // The per-record option wins over the field.
    await kn.submitPayload({ id: 'field' }, { partitionKey: 'override' });
    const refused = [
      [{ other: 1 }, 'MissingPartitionKey'],
      [{ id: undefined }, 'MissingPartitionKey'],
      ['no fields', 'MissingPartitionKey'],
      [new Uint8Array(3), 'MissingPartitionKey'],
      [{ id: null }, 'InvalidPartitionKey'],
      [{ id: {} }, 'InvalidPartitionKey'],
      [{ id: [1] }, 'InvalidPartitionKey'],
      [{ id: NaN }, 'InvalidPartitionKey'],
      [{ id: '' }, 'InvalidPartitionKey'],
      [{ id: 'x'.repeat(257) }, 'InvalidPartitionKey'],
      [Object.create({ id: 'inherited' }), 'MissingPartitionKey'],
    ];
    for (const [payload, code] of refused) await rejectsWithCode(kn.submitPayload(payload), code, KinesisBatchError);
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 7, failed: [] });
    assert.deepEqual(
      fetch.log.flatMap((r) => r.records.map((x) => x.partitionKey)),
      [...good.map(([, k]) => k), 'override'],
    );
  });
});

describe('region and credentials from the environment (child processes)', () => {
  let kls;
  before(async () => {
    kls = await startKinesalite({ streams: { envs: 1 } });
  });
  after(async () => {
    await kls?.stop();
  });

  // The child sends one record to kinesalite and reports what it signed with.
  const probe = (ctorOptions) => `
    import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_NODE)};
    const seen = [];
    const fetch = (url, init) => { seen.push(init.headers); return globalThis.fetch(url, init); };
    const out = {};
    try {
      const kn = new KinesisBatchDispatcher('envs', { endpoint: process.env.TEST_ENDPOINT, fetch, ...${JSON.stringify(ctorOptions)} });
      out.region = kn.region;
      await kn.submitPayload({ env: true });
      const report = await kn.flushPayloads();
      out.sent = report.sent;
      if (report.failed.length) out.failed = report.failed.map((f) => [f.errorCode, f.errorMessage]);
      if (seen.length) {
        const h = Object.fromEntries(Object.entries(seen[0]).map(([k, v]) => [k.toLowerCase(), v]));
        out.credential = /Credential=([^,]+)/.exec(h.authorization)[1].replace(/\\/\\d{8}\\//, '/DATE/');
        out.token = h['x-amz-security-token'] ?? null;
      }
    } catch (e) {
      out.error = { name: e.name, code: e.code, option: e.option, message: e.message };
    }
    console.log(JSON.stringify(out));
  `;
  const SECRET = 'env-secret-value-never-printed';

  test('AWS_REGION, then AWS_DEFAULT_REGION; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN', async () => {
    const env = { TEST_ENDPOINT: kls.endpoint, AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: SECRET };
    assert.deepEqual(
      await runChild(probe({}), {
        env: { ...env, AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2', AWS_SESSION_TOKEN: 'session-tok' },
      }),
      {
        region: 'eu-west-1',
        sent: 1,
        credential: 'AKIDFROMENV/DATE/eu-west-1/kinesis/aws4_request',
        token: 'session-tok',
      },
    );
    assert.deepEqual(await runChild(probe({}), { env: { ...env, AWS_DEFAULT_REGION: 'ap-south-1' } }), {
      region: 'ap-south-1',
      sent: 1,
      credential: 'AKIDFROMENV/DATE/ap-south-1/kinesis/aws4_request',
      token: null,
    });
  });

  test('options win over the environment', async () => {
    const env = {
      TEST_ENDPOINT: kls.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDFROMENV',
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: 'env-tok',
    };
    assert.deepEqual(
      await runChild(
        probe({ region: 'us-east-2', credentials: { accessKeyId: 'AKIDOPTION', secretAccessKey: 'opt-secret' } }),
        { env },
      ),
      { region: 'us-east-2', sent: 1, credential: 'AKIDOPTION/DATE/us-east-2/kinesis/aws4_request', token: null },
    );
  });

  test('no region anywhere: InvalidOption; no credentials anywhere: records end CredentialsUnavailable; an ARN supplies the region', async () => {
    const noRegion = await runChild(probe({}), {
      env: { TEST_ENDPOINT: kls.endpoint, AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: SECRET },
    });
    assert.equal(noRegion.error?.name, 'KinesisBatchError');
    assert.equal(noRegion.error.code, 'InvalidOption');
    assert.equal(noRegion.error.option, 'region');
    assert.ok(!noRegion.error.message.includes(SECRET));
    // Changed on purpose: Node and Deno now default to the AWS credentials chain (a function that
    // resolves at the first send: profiles, SSO, web identity, ECS, EC2), so the constructor no
    // longer throws InvalidOption 'credentials'; when no source has any, the records end with
    // CredentialsUnavailable saying what to pass, set or configure. An empty HOME keeps the
    // machine's ~/.aws out; AWS_EC2_METADATA_DISABLED keeps the chain off 169.254.169.254.
    const emptyHome = mkdtempSync(path.join(os.tmpdir(), 'kinesis-batch-no-credentials-'));
    const noCredentials = await runChild(probe({ maxAttempts: 1 }), {
      env: {
        TEST_ENDPOINT: kls.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDONLY',
        HOME: emptyHome,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    rmSync(emptyHome, { recursive: true, force: true });
    assert.deepEqual(noCredentials, {
      region: 'us-east-1',
      sent: 0,
      failed: [
        [
          'CredentialsUnavailable',
          'the credentials provider failed (1 try): Error: no credentials: pass { accessKeyId, secretAccessKey } ' +
            'or a function, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure AWS_PROFILE, SSO, ' +
            'web identity, ECS or EC2 credentials (the AWS default credentials chain found none)',
        ],
      ],
    });
    const arn = await runChild(
      probe({}).replace("'envs'", JSON.stringify('arn:aws:kinesis:ca-central-1:000000000000:stream/envs')),
      { env: { TEST_ENDPOINT: kls.endpoint, AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: SECRET } },
    );
    assert.equal(arn.region, 'ca-central-1');
    assert.equal(arn.credential, 'AKIDFROMENV/DATE/ca-central-1/kinesis/aws4_request');
  });
});
