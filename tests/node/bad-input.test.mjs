// Bad input (issue 3): each case is refused at submitPayload (or at the constructor) with its
// typed KinesisBatchError code, nothing bad is ever accepted, and every valid record around the
// bad ones is delivered to kinesis-local and read back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KinesisBatchDispatcher, KinesisBatchError, planBatches } from '../../pkg/node.js';
import { startKinesisLocal, readAllRecords } from '../support/servers.mjs';
import { FAKE_CREDENTIALS, secretScanner } from '../chaos.mjs';

const scanner = secretScanner();
let kl;

before(async () => {
  kl = await startKinesisLocal({ streams: { bad: 4 } });
});
after(async () => {
  await kl?.stop();
});

const MAX_HASH_KEY = '340282366920938463463374607431768211455'; // 2^128 - 1
const EMOJI = '😀'; // 2 UTF-16 units, 4 UTF-8 bytes

function cyclic() {
  const o = { id: 'b-cyclic' };
  o.self = o;
  return o;
}

// [label, payload, per-record options, expected code | null for valid, expected partition key]
const CASES = [
  ['valid plain', { id: 'v-plain', n: 1 }, undefined, null, 'v-plain'],
  ['BigInt payload', 10n, undefined, 'UnserializablePayload'],
  ['valid 256 é (512 UTF-8 bytes)', { id: 'é'.repeat(256) }, undefined, null, 'é'.repeat(256)],
  ['BigInt inside an object', { id: 'b-bigint', n: 1n }, undefined, 'UnserializablePayload'],
  ['cyclic object', cyclic(), undefined, 'UnserializablePayload'],
  ['valid 128 emoji (256 units)', { id: EMOJI.repeat(128) }, undefined, null, EMOJI.repeat(128)],
  ['function', () => 1, undefined, 'UnserializablePayload'],
  ['symbol', Symbol('s'), undefined, 'UnserializablePayload'],
  ['undefined', undefined, undefined, 'UnserializablePayload'],
  ['valid number id', { id: 12345 }, undefined, null, '12345'],
  ['missing identifier field', { other: 'x' }, undefined, 'MissingPartitionKey'],
  ['identifier undefined', { id: undefined }, undefined, 'MissingPartitionKey'],
  ['string payload without a key', 'just text', undefined, 'MissingPartitionKey'],
  ['bytes payload without a key', new Uint8Array([1, 2]), undefined, 'MissingPartitionKey'],
  ['valid bytes with partitionKey', new Uint8Array([0, 255, 7]), { partitionKey: 'v-bytes' }, null, 'v-bytes'],
  ['identifier null', { id: null }, undefined, 'InvalidPartitionKey'],
  ['identifier object', { id: { nested: 1 } }, undefined, 'InvalidPartitionKey'],
  ['identifier array', { id: ['a'] }, undefined, 'InvalidPartitionKey'],
  ['identifier NaN', { id: NaN }, undefined, 'InvalidPartitionKey'],
  ['valid string with partitionKey', 'plain text ✓', { partitionKey: 'v-text' }, null, 'v-text'],
  ['empty identifier', { id: '' }, undefined, 'InvalidPartitionKey'],
  ['empty partitionKey option', { id: 'x' }, { partitionKey: '' }, 'InvalidPartitionKey'],
  ['non-string partitionKey option', { id: 'x' }, { partitionKey: 42 }, 'InvalidPartitionKey'],
  ['valid 256 ASCII', { id: 'a'.repeat(256) }, undefined, null, 'a'.repeat(256)],
  ['257 ASCII', { id: 'a'.repeat(257) }, undefined, 'InvalidPartitionKey'],
  ['129 emoji (258 units)', { id: EMOJI.repeat(129) }, undefined, 'InvalidPartitionKey'],
  ['255 ASCII + 1 emoji (257 units)', { id: 'b'.repeat(255) + EMOJI }, undefined, 'InvalidPartitionKey'],
  ['valid 254 ASCII + 1 emoji (256 units)', { id: 'c'.repeat(254) + EMOJI }, undefined, null, 'c'.repeat(254) + EMOJI],
  ['valid explicitHashKey 0', { id: 'v-ehk-0' }, { explicitHashKey: '0' }, null, 'v-ehk-0'],
  ['explicitHashKey leading zero', { id: 'b-ehk' }, { explicitHashKey: '01' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey 00', { id: 'b-ehk' }, { explicitHashKey: '00' }, 'InvalidExplicitHashKey'],
  [
    'explicitHashKey 2^128',
    { id: 'b-ehk' },
    { explicitHashKey: '340282366920938463463374607431768211456' },
    'InvalidExplicitHashKey',
  ],
  ['explicitHashKey 41 digits', { id: 'b-ehk' }, { explicitHashKey: '9'.repeat(41) }, 'InvalidExplicitHashKey'],
  ['valid explicitHashKey 2^128-1', { id: 'v-ehk-max' }, { explicitHashKey: MAX_HASH_KEY }, null, 'v-ehk-max'],
  ['explicitHashKey non-digit', { id: 'b-ehk' }, { explicitHashKey: '12a' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey empty', { id: 'b-ehk' }, { explicitHashKey: '' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey negative', { id: 'b-ehk' }, { explicitHashKey: '-1' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey with space', { id: 'b-ehk' }, { explicitHashKey: ' 1' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey exponent', { id: 'b-ehk' }, { explicitHashKey: '1e5' }, 'InvalidExplicitHashKey'],
  ['explicitHashKey number', { id: 'b-ehk' }, { explicitHashKey: 42 }, 'InvalidExplicitHashKey'],
  ['explicitHashKey negative BigInt', { id: 'b-ehk' }, { explicitHashKey: -1n }, 'InvalidExplicitHashKey'],
  ['valid explicitHashKey BigInt 2^127', { id: 'v-ehk-big' }, { explicitHashKey: 2n ** 127n }, null, 'v-ehk-big'],
  ['record over 1 MiB', { id: 'b-big', pad: 'x'.repeat(1024 * 1024) }, undefined, 'RecordTooLarge'],
  ['per-record options not an object', { id: 'b-opts' }, null, 'InvalidOption'],
  ['valid last', { id: 'v-last', tail: true }, undefined, null, 'v-last'],
];

test('each bad record gets its typed error at submit, and every valid record around it is delivered', {
  timeout: 120_000,
}, async () => {
  const kn = new KinesisBatchDispatcher('bad', {
    endpoint: kl.endpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    partitionKeyIdentifier: 'id',
    maxBatchSize: 4, // several requests, so a bad record could not hide in one
    onProgress: (p) => scanner.add('onProgress', p),
  });
  const valid = [];
  for (const [label, payload, options, code, key] of CASES) {
    if (code === null) {
      await kn.submitPayload(payload, options);
      valid.push({ label, payload, key, options });
      continue;
    }
    await assert.rejects(kn.submitPayload(payload, options), (error) => {
      scanner.add('error', error);
      assert.ok(error instanceof KinesisBatchError, `${label}: a KinesisBatchError`);
      assert.equal(error.name, 'KinesisBatchError');
      assert.equal(error.code, code, `${label}: ${error.message}`);
      assert.ok(error.message.length > 10, `${label}: a message saying why`);
      return true;
    });
    assert.equal(kn.progress.accepted, valid.length, `${label}: never accepted`);
  }
  const report = await kn.flushPayloads();
  scanner.add('report', report);
  assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: valid.length, failed: [] });
  assert.equal(kn.progress.accepted, valid.length);

  const records = await readAllRecords({ endpoint: kl.endpoint, stream: 'bad' });
  assert.deepEqual(
    records.map((r) => r.partitionKey).sort(),
    valid.map((v) => v.key).sort(),
    'exactly the valid records, once each',
  );
  const byKey = new Map(records.map((r) => [r.partitionKey, r]));
  for (const v of valid) {
    const r = byKey.get(v.key);
    const expected =
      v.payload instanceof Uint8Array
        ? Buffer.from(v.payload)
        : Buffer.from(typeof v.payload === 'string' ? v.payload : JSON.stringify(v.payload));
    assert.deepEqual(r.data, expected, `${v.label}: the data round-trips`);
  }
  // Explicit hash keys route to the shard holding them (4 even shards).
  assert.equal(byKey.get('v-ehk-0').shardId, 'shardId-000000000000');
  assert.equal(byKey.get('v-ehk-big').shardId, 'shardId-000000000002');
  assert.equal(byKey.get('v-ehk-max').shardId, 'shardId-000000000003');
});

test('planBatches refuses the same payloads with the same codes', () => {
  const payloadOnly = CASES.filter(([, , options]) => options === undefined);
  const plan = planBatches(
    payloadOnly.map(([, payload]) => payload),
    { partitionKeyIdentifier: 'id' },
  );
  scanner.add('plan', plan.rejected);
  const expected = payloadOnly.flatMap(([, , , code], index) => (code ? [[index, code]] : []));
  assert.deepEqual(
    plan.rejected.map((r) => [r.index, r.code]),
    expected,
  );
  assert.equal(
    plan.batches.reduce((n, b) => n + b.records, 0),
    payloadOnly.length - expected.length,
  );
});

test('options out of range or of the wrong type throw InvalidOption naming the option', () => {
  const base = { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: FAKE_CREDENTIALS };
  const cases = [
    [{ maxBatchSize: 0 }, 'maxBatchSize'],
    [{ maxBatchSize: 501 }, 'maxBatchSize'],
    [{ maxBatchSize: 1.5 }, 'maxBatchSize'],
    [{ maxBatchSize: NaN }, 'maxBatchSize'],
    [{ maxBatchSize: '10' }, 'maxBatchSize'],
    [{ maxRecordBytes: 0 }, 'maxRecordBytes'],
    [{ maxRecordBytes: 10 * 1024 * 1024 + 1 }, 'maxRecordBytes'],
    [{ maxRequestBytes: 10 * 1024 * 1024 + 1 }, 'maxRequestBytes'],
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ maxAttempts: Infinity }, 'maxAttempts'],
    [{ retryBaseDelayMs: -1 }, 'retryBaseDelayMs'],
    [{ retryBaseDelayMs: 100, retryMaxDelayMs: 50 }, 'retryMaxDelayMs'],
    [{ maxInFlight: 0 }, 'maxInFlight'],
    [{ maxBufferedBytes: 0 }, 'maxBufferedBytes'],
    [{ maxBufferedTimeMs: -1 }, 'maxBufferedTimeMs'],
    [{ requestTimeoutMs: 0 }, 'requestTimeoutMs'],
    [{ endpoint: 'ftp://127.0.0.1' }, 'endpoint'],
    [{ endpoint: 'not a url' }, 'endpoint'],
    [{ region: 'us east 1' }, 'region'],
    [{ partitionKeyIdentifier: '' }, 'partitionKeyIdentifier'],
    [{ fetch: 'nope' }, 'fetch'],
    [{ onProgress: 5 }, 'onProgress'],
    [{ signal: {} }, 'signal'],
    [{ credentials: 'a string' }, 'credentials'],
    [{ credentials: { accessKeyId: FAKE_CREDENTIALS.accessKeyId } }, 'credentials'],
  ];
  for (const [options, option] of cases) {
    assert.throws(
      () => new KinesisBatchDispatcher('bad', { ...base, ...options }),
      (error) => {
        scanner.add('error', error);
        assert.ok(error instanceof KinesisBatchError);
        assert.equal(error.code, 'InvalidOption', `${JSON.stringify(options)}: ${error.message}`);
        assert.equal(error.option, option, error.message);
        return true;
      },
    );
  }
  for (const stream of ['', 'bad name!', 'x'.repeat(129), 42]) {
    assert.throws(
      () => new KinesisBatchDispatcher(stream, base),
      (e) => scanner.add('error', e).code === 'InvalidOption' && e.option === 'stream',
    );
  }
  assert.throws(
    () => new KinesisBatchDispatcher('bad', null),
    (e) => scanner.add('error', e).code === 'InvalidOption',
  );
  // The valid extremes are accepted.
  new KinesisBatchDispatcher('bad', {
    ...base,
    maxBatchSize: 1,
    maxRecordBytes: 10 * 1024 * 1024,
    maxRequestBytes: 10 * 1024 * 1024,
    maxAttempts: 1,
    maxInFlight: 1,
    maxBufferedTimeMs: 0,
  });
});

test('secret scan: nothing this suite saw holds a credential', () => {
  assert.ok(scanner.count > 50, `scanned ${scanner.count}`);
  assert.deepEqual(scanner.leaks, []);
});
