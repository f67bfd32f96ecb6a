// submitPayloads, the bulk extension (issue 5): the same records, keys and bytes as submitPayload,
// invalid records listed and never accepted, the report invariant, and backpressure.
// (Don't name a stream "keys": kinesalite 3.3.3's PutRecords crashes on it.)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import { KinesisBatchDispatcher, KinesisBatchError } from '../../pkg/node.js';
import { LOCAL_CREDENTIALS, UUID_V4, expectedData, recordingFetch } from './helpers.mjs';

describe('submitPayloads', () => {
  let server;
  before(async () => {
    server = await startKinesalite({ streams: { bulk: 2, other: 1 } });
  });
  after(async () => {
    await server?.stop();
  });

  const dispatcher = (stream, options = {}) =>
    new KinesisBatchDispatcher(stream, {
      region: 'us-east-1',
      endpoint: server.endpoint,
      credentials: LOCAL_CREDENTIALS,
      ...options,
    });

  test('delivers every valid payload as submitPayload would, and lists the invalid ones', async () => {
    const payloads = [];
    for (let i = 0; i < 1200; i++) payloads.push({ id: `k-${i % 37}`, i, text: 'é😀'.repeat(i % 5) });
    payloads.splice(3, 0, { noId: true }); // index 3: MissingPartitionKey
    payloads.splice(10, 0, { id: null }); // index 10: InvalidPartitionKey
    payloads.splice(20, 0, { id: 'x'.repeat(257) }); // index 20: InvalidPartitionKey (257 units)
    payloads.splice(30, 0, 10n); // index 30: UnserializablePayload
    payloads.splice(40, 0, { id: 'big', blob: 'x'.repeat(1024 * 1024) }); // index 40: RecordTooLarge
    payloads.push('a string', new Uint8Array([0, 255, 1]), 42, [1, 2]); // keyed by nothing: MissingPartitionKey
    const fetch = recordingFetch();
    const kn = dispatcher('bulk', { partitionKeyIdentifier: 'id', fetch });
    const { accepted, rejected } = await kn.submitPayloads(payloads);
    const codes = Object.fromEntries(rejected.map((r) => [r.index, r.error.code]));
    assert.deepEqual(codes, {
      3: 'MissingPartitionKey',
      10: 'InvalidPartitionKey',
      20: 'InvalidPartitionKey',
      30: 'UnserializablePayload',
      40: 'RecordTooLarge',
      1205: 'MissingPartitionKey',
      1206: 'MissingPartitionKey',
      1207: 'MissingPartitionKey',
      1208: 'MissingPartitionKey',
    });
    for (const r of rejected) assert.ok(r.error instanceof KinesisBatchError, r.error);
    assert.equal(accepted, 1200);
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 1200);
    assert.deepEqual(report.failed, []);
    const sent = fetch.log.flatMap((r) => r.records);
    const valid = payloads.filter((_, i) => !(i in codes));
    assert.equal(sent.length, valid.length);
    sent.forEach((r, k) => {
      assert.deepEqual(r.data, expectedData(valid[k]), `record ${k}`);
      assert.equal(r.partitionKey, valid[k].id);
    });
    const stored = await readAllRecords({ endpoint: server.endpoint, stream: 'bulk', credentials: LOCAL_CREDENTIALS });
    assert.equal(stored.length, 1200);
  });

  test('random keys without an identifier; strings and bytes as they are; any iterable', async () => {
    const fetch = recordingFetch();
    const kn = dispatcher('other', { fetch });
    function* gen() {
      yield 'plain text é';
      yield new Uint8Array([1, 2, 3]);
      yield { a: 1 };
      yield new ArrayBuffer(2);
    }
    const { accepted, rejected } = await kn.submitPayloads(gen());
    assert.equal(accepted, 4);
    assert.deepEqual(rejected, []);
    await kn.flushPayloads();
    const sent = fetch.log.flatMap((r) => r.records);
    assert.deepEqual(
      sent.map((r) => r.data.toString('hex')),
      ['plain text é', new Uint8Array([1, 2, 3]), { a: 1 }, new ArrayBuffer(2)].map((p) =>
        expectedData(p).toString('hex'),
      ),
    );
    for (const r of sent) assert.match(r.partitionKey, UUID_V4);
  });

  test('bad arguments throw InvalidOption; backpressure holds the buffer near maxBufferedBytes', async () => {
    const kn = dispatcher('other', { maxBufferedBytes: 20_000, maxInFlight: 1 });
    await assert.rejects(kn.submitPayloads(42), (e) => e.code === 'InvalidOption');
    await assert.rejects(kn.submitPayloads(null), (e) => e.code === 'InvalidOption');
    let peak = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, kn.progress.bufferedBytes);
    }, 1);
    const payloads = Array.from({ length: 3000 }, (_, i) => ({ i, pad: 'p'.repeat(100) }));
    const { accepted, rejected } = await kn.submitPayloads(payloads);
    clearInterval(timer);
    assert.equal(
      accepted,
      3000,
      JSON.stringify(rejected.slice(0, 2).map((r) => [r.index, r.error.code, r.error.message])),
    );
    // A chunk (at most 512 records) may go over before the wait: bounded, not unbounded.
    assert.ok(peak < 20_000 + 512 * 200, `peak buffered ${peak}`);
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 3000);
  });
});
