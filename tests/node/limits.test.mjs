// Size accounting and limits, asserted where requests are received (the fault proxy in pass mode)
// and by what the servers store. A record's size is its data bytes plus its key's UTF-8 bytes.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesisLocal, startKinesalite, readAllRecords } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { KinesisBatchDispatcher, KinesisBatchError, planBatches } from '../../pkg/node.js';
import {
  LOCAL_CREDENTIALS,
  expectedData,
  recordKey,
  assertSameMultiset,
  rejectsWithCode,
  utf8len,
  prng,
  between,
} from './helpers.mjs';

const MiB = 1024 * 1024;

/** Bytes the proxy saw per record, decoded independently: { data: Buffer, key }. */
function captureRecords(into) {
  return ({ records }) => {
    into.push(records.map((r) => ({ data: Buffer.from(r.Data, 'base64'), key: r.PartitionKey })));
    return { type: 'pass' };
  };
}

// kinesis-local is the stricter server: it refuses a partition key over 256 UTF-16 units.
describe('limits against kinesis-local behind a pass-through proxy', () => {
  let kl, proxy;
  before(async () => {
    kl = await startKinesisLocal({ streams: { keys: 2, custom: 1 }, env: { CREATE_STREAM_DURATION: '0ms' } });
    proxy = await startFaultProxy({ target: kl.endpoint });
  });
  after(async () => {
    await proxy?.stop();
    await kl?.stop();
  });

  test('custom maxRecordBytes: the boundary moves with it, and a record must also fit maxRequestBytes', async () => {
    const kn = new KinesisBatchDispatcher('custom', {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      maxRecordBytes: 1000,
      partitionKeyIdentifier: 'id',
    });
    const id = 'ø😀'; // 6 bytes
    const fits = { id, d: 'x'.repeat(1000 - 6 - utf8len(JSON.stringify({ id, d: '' }))) };
    assert.equal(utf8len(JSON.stringify(fits)) + 6, 1000);
    await kn.submitPayload(fits);
    await rejectsWithCode(kn.submitPayload({ ...fits, d: fits.d + 'x' }), 'RecordTooLarge', KinesisBatchError);
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 1, failed: [] });

    // maxRecordBytes above maxRequestBytes: the request limit caps the record.
    const capped = new KinesisBatchDispatcher('custom', {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      maxRecordBytes: 10000,
      maxRequestBytes: 5000,
    });
    await capped.submitPayload(new Uint8Array(4999), { partitionKey: 'a' });
    await rejectsWithCode(
      capped.submitPayload(new Uint8Array(5000), { partitionKey: 'a' }),
      'RecordTooLarge',
      KinesisBatchError,
    );
    const r2 = await capped.flushPayloads();
    assert.deepEqual({ sent: r2.sent, failed: r2.failed }, { sent: 1, failed: [] });
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'custom' });
    assert.deepEqual(stored.map((r) => r.data.length + utf8len(r.partitionKey)).sort(), [1000, 5000]);
  });

  test('partition keys: 256 UTF-16 units accepted (512 or 1024 UTF-8 bytes), 257 rejected at submit', {
    timeout: 120000,
  }, async () => {
    const kn = new KinesisBatchDispatcher('keys', {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      partitionKeyIdentifier: 'id',
    });
    const good = [
      'é'.repeat(256), // 256 units, 512 bytes
      '😀'.repeat(128), // 256 units, 512 bytes
      'a'.repeat(256),
      '😀'.repeat(127) + 'ab', // 256 units
      '中'.repeat(256), // 768 bytes
      'x',
    ];
    const bad = [
      ['😀'.repeat(129), 'InvalidPartitionKey'], // 258 units, though only 129 code points
      ['a'.repeat(257), 'InvalidPartitionKey'],
      ['😀'.repeat(127) + 'abc', 'InvalidPartitionKey'], // 257 units
      ['é'.repeat(257), 'InvalidPartitionKey'],
      ['', 'InvalidPartitionKey'],
    ];
    const accepted = [];
    // Valid and invalid records interleaved, through the field and through the per-record option.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < Math.max(good.length, bad.length); i++) {
        if (good[i] !== undefined) {
          const payload = { id: good[i], round, i };
          if (round === 0) await kn.submitPayload(payload);
          else await kn.submitPayload(payload, { partitionKey: good[i] });
          accepted.push({ payload, key: good[i] });
        }
        if (bad[i] !== undefined) {
          const [key, code] = bad[i];
          const payload = { id: key, round, i, bad: true };
          await rejectsWithCode(
            round === 0 ? kn.submitPayload(payload) : kn.submitPayload(payload, { partitionKey: key }),
            code,
            KinesisBatchError,
          );
        }
      }
    }
    assert.equal(kn.progress.accepted, accepted.length, 'rejected records are never accepted');
    const report = await kn.flushPayloads();
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: accepted.length, failed: [] });

    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'keys' });
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      accepted.map((a) => recordKey(a.key, expectedData(a.payload))),
    );
    assert.ok(stored.some((r) => r.partitionKey === 'é'.repeat(256)));
    assert.ok(stored.some((r) => r.partitionKey === '😀'.repeat(128)));
  });
});

describe('sizes and packing, asserted where the requests arrive (kinesalite behind a pass-through proxy)', () => {
  let kls, proxy;
  let seen = [];
  before(async () => {
    kls = await startKinesalite({ streams: { sizes: 2, packA: 4, packB: 4, packC: 2 } });
    proxy = await startFaultProxy({ target: kls.endpoint, decide: (ctx) => captureRecords(seen)(ctx) });
  });
  after(async () => {
    await proxy?.stop();
    await kls?.stop();
  });

  test('data + UTF-8 key bytes == 1 MiB is accepted and delivered; one byte more is RecordTooLarge', {
    timeout: 300000,
  }, async () => {
    // No request timeout under load: a slow answer must not turn into a retry and a duplicate.
    const kn = new KinesisBatchDispatcher('sizes', {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      requestTimeoutMs: 3600000,
    });
    const firstRequest = proxy.requests.length;
    const exact = []; // { payload, key }
    // Multi-byte keys: 'é' is 2 UTF-8 bytes, '€' 3, '😀' 4 (and 2 UTF-16 units).
    const keys = ['é', '😀', 'ключ😀'];
    for (const [n, key] of keys.entries()) {
      const room = MiB - utf8len(key);
      // Bytes, for every key.
      const bytes = new Uint8Array(room).fill(n + 1);
      const bigger = new Uint8Array(room + 1).fill(n + 1);
      const err = await rejectsWithCode(
        kn.submitPayload(bigger, { partitionKey: key }),
        'RecordTooLarge',
        KinesisBatchError,
      );
      assert.match(err.message, new RegExp(`${room + 1 + utf8len(key)}`), 'the message gives the size');
      await kn.submitPayload(bytes, { partitionKey: key });
      exact.push({ payload: bytes, key });
    }
    // A string counts its UTF-8 bytes: 'é' is 2 bytes per character.
    {
      const key = 'k€'; // 4 bytes
      const text = 'é'.repeat((MiB - 4) / 2);
      await rejectsWithCode(kn.submitPayload(text + 'a', { partitionKey: key }), 'RecordTooLarge', KinesisBatchError);
      await kn.submitPayload(text, { partitionKey: key });
      exact.push({ payload: text, key });
    }
    // An object counts its JSON's UTF-8 bytes once: '{"d":"…"}' is 8 bytes around the text.
    {
      const key = 'é'; // 2 bytes
      const obj = { d: 'ü'.repeat((MiB - 8 - 2) / 2) };
      assert.equal(utf8len(JSON.stringify(obj)) + utf8len(key), MiB);
      await rejectsWithCode(
        kn.submitPayload({ d: obj.d + 'x' }, { partitionKey: key }),
        'RecordTooLarge',
        KinesisBatchError,
      );
      await kn.submitPayload(obj, { partitionKey: key });
      exact.push({ payload: obj, key });
    }
    const report = await kn.flushPayloads();
    assert.deepEqual(
      { sent: report.sent, failed: report.failed, retries: report.retries },
      { sent: exact.length, failed: [], retries: 0 },
    );

    // Where the requests arrived: every record is exactly 1 MiB, and the 5 of them fill the
    // default 5 MiB request exactly: one request.
    const got = proxy.requests.slice(firstRequest);
    assert.deepEqual(
      got.map((r) => [r.recordCount, r.bytes, r.maxRecordBytes]),
      [[5, 5 * MiB, MiB]],
    );

    const stored = await readAllRecords({ endpoint: kls.endpoint, stream: 'sizes' });
    assert.equal(stored.length, exact.length);
    for (const r of stored) assert.equal(r.data.length + utf8len(r.partitionKey), MiB);
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      exact.map((e) => recordKey(e.key, expectedData(e.payload))),
    );
  });

  // Random record sizes (mostly small, some near the record limit) and random multi-byte keys.
  const KEY_CHARS = ['a', 'Z', '9', '-', 'é', 'ß', '€', '中', '😀', '🎉'];
  function randomRecords(seed, n, maxRecordBytes) {
    const rand = prng(seed);
    const out = [];
    for (let i = 0; i < n; i++) {
      let id = '';
      const keyLen = between(rand, 1, 24);
      for (let k = 0; k < keyLen; k++) id += KEY_CHARS[between(rand, 0, KEY_CHARS.length - 1)];
      const base = utf8len(JSON.stringify({ id, i, pad: '' })) + utf8len(id);
      const room = maxRecordBytes - base;
      let padBytes;
      const roll = rand();
      if (roll < 0.05)
        padBytes = room + between(rand, 1, 3); // too large: must be rejected at submit
      else if (roll < 0.1)
        padBytes = room; // exactly at the limit
      else if (roll < 0.35) padBytes = between(rand, Math.floor(room / 2), room);
      else padBytes = between(rand, 0, Math.min(room, 300));
      // Fill with a mix of 1- and 2-byte characters to reach padBytes exactly.
      const twos = Math.floor(between(rand, 0, padBytes) / 2);
      const pad = 'ñ'.repeat(twos) + 'p'.repeat(padBytes - 2 * twos);
      const payload = { id, i, pad };
      out.push({ payload, size: utf8len(JSON.stringify(payload)) + utf8len(id), tooLarge: padBytes > room });
    }
    return out;
  }

  const configs = [
    {
      stream: 'packA',
      seed: 7,
      n: 1500,
      maxBatchSize: 7,
      maxRequestBytes: 10000,
      maxRecordBytes: 3000,
      closedBy: ['count', 'bytes'],
    },
    {
      stream: 'packB',
      seed: 8,
      n: 2000,
      maxBatchSize: 500,
      maxRequestBytes: 40000,
      maxRecordBytes: 4000,
      closedBy: ['bytes'],
    },
    {
      stream: 'packC',
      seed: 9,
      n: 600,
      maxBatchSize: 3,
      maxRequestBytes: 10485760,
      maxRecordBytes: 2000,
      closedBy: ['count'],
    },
  ];
  for (const cfg of configs) {
    test(`maxBatchSize ${cfg.maxBatchSize}, maxRequestBytes ${cfg.maxRequestBytes}: no request over a limit, every batch filled`, {
      timeout: 120000,
    }, async (t) => {
      seen = [];
      const firstRequest = proxy.requests.length;
      const records = randomRecords(cfg.seed, cfg.n, cfg.maxRecordBytes);
      const options = {
        maxBatchSize: cfg.maxBatchSize,
        maxRequestBytes: cfg.maxRequestBytes,
        maxRecordBytes: cfg.maxRecordBytes,
        partitionKeyIdentifier: 'id',
      };
      const kn = new KinesisBatchDispatcher(cfg.stream, {
        region: 'us-east-1',
        endpoint: proxy.endpoint,
        credentials: LOCAL_CREDENTIALS,
        ...options,
      });
      const accepted = [];
      for (const r of records) {
        if (r.tooLarge) {
          await rejectsWithCode(kn.submitPayload(r.payload), 'RecordTooLarge', KinesisBatchError);
        } else {
          await kn.submitPayload(r.payload);
          accepted.push(r);
        }
      }
      assert.ok(
        accepted.length < records.length && accepted.length > records.length * 0.8,
        'some records were too large',
      );
      const report = await kn.flushPayloads();
      assert.deepEqual(
        { sent: report.sent, failed: report.failed, retries: report.retries },
        { sent: accepted.length, failed: [], retries: 0 },
      );

      const requests = proxy.requests.slice(firstRequest);
      assert.equal(requests.length, report.requests);
      // The limits, where the requests were received.
      for (const r of requests) {
        assert.ok(
          r.recordCount >= 1 && r.recordCount <= cfg.maxBatchSize,
          `request ${r.index}: ${r.recordCount} records`,
        );
        assert.ok(r.bytes <= cfg.maxRequestBytes, `request ${r.index}: ${r.bytes} bytes > ${cfg.maxRequestBytes}`);
        assert.ok(r.maxRecordBytes <= cfg.maxRecordBytes);
      }
      // What arrived is each payload's JSON with its field as the key, byte for byte.
      const batches = seen.map((got) =>
        got.map(({ data, key }) => {
          const payload = JSON.parse(data.toString('utf8'));
          assert.equal(key, payload.id);
          assert.ok(data.equals(expectedData(records[payload.i].payload)), `record ${payload.i} arrived byte for byte`);
          return payload.i;
        }),
      );
      assert.equal(batches.length, requests.length);
      const sizeOf = new Map(accepted.map((r) => [r.payload.i, r.size]));
      const bytesOf = (batch) => batch.reduce((a, i) => a + sizeOf.get(i), 0);
      // The proxy's count (base64-decoded data + UTF-8 key) equals the independent one.
      batches.forEach((batch, j) => {
        assert.equal(requests[j].bytes, bytesOf(batch), `request ${j} bytes`);
      });
      // Requests may arrive out of order (maxInFlight 4); packing order is submission order.
      batches.sort((a, b) => a[0] - b[0]);
      assert.deepEqual(
        batches.flat(),
        accepted.map((r) => r.payload.i),
        'each batch is a run of consecutive accepted records, none twice',
      );
      // Greedy filling: a batch closes only when the next record would break a limit.
      const closedBy = { count: 0, bytes: 0 };
      for (let b = 0; b + 1 < batches.length; b++) {
        const byCount = batches[b].length === cfg.maxBatchSize;
        const byBytes = bytesOf(batches[b]) + sizeOf.get(batches[b + 1][0]) > cfg.maxRequestBytes;
        assert.ok(
          byCount || byBytes,
          `batch ${b} (${batches[b].length} records, ${bytesOf(batches[b])} bytes) closed early`,
        );
        if (byCount) closedBy.count++;
        if (byBytes) closedBy.bytes++;
      }
      for (const reason of cfg.closedBy)
        assert.ok(closedBy[reason] > 0, `some batches closed by ${reason}: ${JSON.stringify(closedBy)}`);
      const fill = requests.reduce((a, r) => a + r.bytes, 0) / requests.length / cfg.maxRequestBytes;
      t.diagnostic(`closed by count ${closedBy.count}, by bytes ${closedBy.bytes}`);
      t.diagnostic(
        `${accepted.length} records in ${requests.length} requests; mean ${(accepted.length / requests.length).toFixed(2)} records and ${(fill * 100).toFixed(1)}% of maxRequestBytes per request`,
      );

      // planBatches (no network) predicts exactly these batches.
      const plan = planBatches(
        records.map((r) => r.payload),
        options,
      );
      assert.deepEqual(
        plan.rejected.map((x) => [x.index, x.code]),
        records.flatMap((r, i) => (r.tooLarge ? [[i, 'RecordTooLarge']] : [])),
      );
      assert.deepEqual(
        plan.batches.map((b) => b.records),
        batches.map((b) => b.length),
      );
      assert.deepEqual(
        plan.batches.map((b) => b.bytes),
        batches.map(bytesOf),
      );
      assert.deepEqual(
        plan.batches.map((b) => b.partitionKeys),
        batches.map((b) => b.map((i) => records[i].payload.id)),
      );

      const stored = await readAllRecords({ endpoint: kls.endpoint, stream: cfg.stream });
      assertSameMultiset(
        stored.map((r) => recordKey(r.partitionKey, r.data)),
        accepted.map((r) => recordKey(r.payload.id, expectedData(r.payload))),
      );
    });
  }
});
