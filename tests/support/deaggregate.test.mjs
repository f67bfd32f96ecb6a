// The independent KPL deaggregators (deaggregate.mjs) against aggregates built by hand here.
// Run from the repository root: node --test tests/support/deaggregate.test.mjs
// Needs: (cd tests && npm ci) and the venv (tests/.venv, from tests/requirements.txt).

import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { deaggregateNpm, deaggregatePython } from './deaggregate.mjs';
import { startKinesalite, readAllRecords, kinesisCall } from './servers.mjs';

// ---- a KPL aggregate, encoded by hand -------------------------------------------------------
// magic F3 89 9A C2, protobuf AggregatedRecord, MD5 of the protobuf bytes.
// AggregatedRecord { 1: repeated string partition_key_table, 2: repeated string explicit_hash_key_table,
//                    3: repeated Record records }
// Record { 1: uint64 partition_key_index, 2: optional uint64 explicit_hash_key_index, 3: bytes data }

const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

function varint(value) {
  let n = BigInt(value);
  const out = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}
const lengthDelimited = (field, bytes) => Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const uint64Field = (field, n) => Buffer.concat([varint(field << 3), varint(n)]);

/** records: [{ pk: index, ehk?: index, data: Buffer|string }] */
function kplAggregate({ partitionKeys, explicitHashKeys = [], records }) {
  const encoded = records.map((r) =>
    Buffer.concat([
      uint64Field(1, r.pk),
      r.ehk === undefined ? Buffer.alloc(0) : uint64Field(2, r.ehk),
      lengthDelimited(3, Buffer.from(r.data)),
    ]),
  );
  const protobuf = Buffer.concat([
    ...partitionKeys.map((k) => lengthDelimited(1, Buffer.from(k, 'utf8'))),
    ...explicitHashKeys.map((k) => lengthDelimited(2, Buffer.from(k, 'utf8'))),
    ...encoded.map((r) => lengthDelimited(3, r)),
  ]);
  return Buffer.concat([MAGIC, protobuf, createHash('md5').update(protobuf).digest()]);
}

const MULTI_BYTE_KEY = 'ключ-🔑-키'; // 2-, 4- and 3-byte UTF-8 sequences; 9 UTF-16 units, 17 UTF-8 bytes
const EHK_MAX = (2n ** 128n - 1n).toString();
const EHK_MID = (2n ** 127n).toString();
const BINARY = Buffer.from([0x00, 0xff, 0xf3, 0x89, 0x9a, 0xc2, 0x0a]);

const aggregate = kplAggregate({
  partitionKeys: [MULTI_BYTE_KEY, 'plain-key'],
  explicitHashKeys: [EHK_MID, EHK_MAX],
  records: [
    { pk: 0, ehk: 1, data: 'first' },
    { pk: 1, ehk: 0, data: BINARY },
    { pk: 0, ehk: 0, data: '' },
  ],
});

const both = [
  ['npm aws-kinesis-agg 4.2.8', deaggregateNpm],
  ['PyPI aws-kinesis-agg 1.2.3', deaggregatePython],
];

test('the hand-built aggregate has the KPL layout', () => {
  assert.deepEqual(aggregate.subarray(0, 4), MAGIC);
  const protobuf = aggregate.subarray(4, -16);
  assert.deepEqual(aggregate.subarray(-16), createHash('md5').update(protobuf).digest());
  assert.equal(Buffer.byteLength(MULTI_BYTE_KEY, 'utf8'), 17);
  assert.equal(MULTI_BYTE_KEY.length, 9);
  // The first field is partition_key_table[0]: tag 0x0a, length 17, the UTF-8 bytes.
  assert.deepEqual(protobuf.subarray(0, 2), Buffer.from([0x0a, 17]));
  assert.equal(protobuf.subarray(2, 19).toString('utf8'), MULTI_BYTE_KEY);
});

for (const [name, deaggregate] of both) {
  describe(name, () => {
    test('an aggregate between plain records: user records in order, keys and data exact', async () => {
      const input = [
        { data: Buffer.from('plain-1'), partitionKey: 'p1', sequenceNumber: '100', shardId: 'shardId-000000000000' },
        {
          data: aggregate,
          partitionKey: 'outer-key',
          explicitHashKey: '42',
          sequenceNumber: '200',
          shardId: 'shardId-000000000001',
        },
        {
          data: new Uint8Array([1, 2, 3]),
          partitionKey: MULTI_BYTE_KEY,
          explicitHashKey: EHK_MAX,
          sequenceNumber: '300',
          shardId: 'shardId-000000000002',
        },
      ];
      const out = await deaggregate(input);
      assert.deepEqual(out, [
        { data: Buffer.from('plain-1'), partitionKey: 'p1', sequenceNumber: '100', shardId: 'shardId-000000000000' },
        {
          data: Buffer.from('first'),
          partitionKey: MULTI_BYTE_KEY,
          explicitHashKey: EHK_MAX,
          sequenceNumber: '200',
          subSequenceNumber: 0,
          shardId: 'shardId-000000000001',
        },
        {
          data: BINARY,
          partitionKey: 'plain-key',
          explicitHashKey: EHK_MID,
          sequenceNumber: '200',
          subSequenceNumber: 1,
          shardId: 'shardId-000000000001',
        },
        {
          data: Buffer.alloc(0),
          partitionKey: MULTI_BYTE_KEY,
          explicitHashKey: EHK_MID,
          sequenceNumber: '200',
          subSequenceNumber: 2,
          shardId: 'shardId-000000000001',
        },
        {
          data: Buffer.from([1, 2, 3]),
          partitionKey: MULTI_BYTE_KEY,
          explicitHashKey: EHK_MAX,
          sequenceNumber: '300',
          shardId: 'shardId-000000000002',
        },
      ]);
      for (const u of out) assert.ok(Buffer.isBuffer(u.data));
    });

    test('an aggregate of one user record is still unpacked (subSequenceNumber 0)', async () => {
      const one = kplAggregate({ partitionKeys: ['solo'], records: [{ pk: 0, data: 'only' }] });
      assert.deepEqual(await deaggregate([{ data: one, partitionKey: 'solo' }]), [
        { data: Buffer.from('only'), partitionKey: 'solo', subSequenceNumber: 0 },
      ]);
    });

    test('no explicit hash key table: user records have no explicitHashKey (not the outer one)', async () => {
      const agg = kplAggregate({
        partitionKeys: ['a', 'b'],
        records: [
          { pk: 1, data: 'x' },
          { pk: 0, data: 'y' },
        ],
      });
      const out = await deaggregate([{ data: agg, partitionKey: 'a', explicitHashKey: '12345' }]);
      assert.deepEqual(out, [
        { data: Buffer.from('x'), partitionKey: 'b', subSequenceNumber: 0 },
        { data: Buffer.from('y'), partitionKey: 'a', subSequenceNumber: 1 },
      ]);
    });

    test('QUIRK: a user record without explicit_hash_key_index gets table[0] when the table is not empty', async () => {
      // proto2 gives an absent uint64 the value 0, and neither library checks presence.
      const agg = kplAggregate({
        partitionKeys: ['a'],
        explicitHashKeys: ['777'],
        records: [
          { pk: 0, data: 'no-ehk-index' },
          { pk: 0, ehk: 0, data: 'ehk-index-0' },
        ],
      });
      const out = await deaggregate([{ data: agg, partitionKey: 'a' }]);
      assert.deepEqual(
        out.map((u) => u.explicitHashKey),
        ['777', '777'],
      );
    });

    test('records that are not aggregates pass through unchanged', async () => {
      const input = [
        { data: Buffer.alloc(0), partitionKey: 'empty' },
        { data: Buffer.from([0xf3, 0x89, 0x9a]), partitionKey: 'three magic bytes' },
        { data: Buffer.from('{"json":true}'), partitionKey: MULTI_BYTE_KEY, explicitHashKey: '0' },
      ];
      assert.deepEqual(await deaggregate(input), input);
      assert.deepEqual(await deaggregate([]), []);
    });

    test('1 MiB of data inside an aggregate survives', async () => {
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      const agg = kplAggregate({ partitionKeys: ['big'], records: [{ pk: 0, data: big }] });
      const [u] = await deaggregate([{ data: agg, partitionKey: 'big' }]);
      assert.ok(u.data.equals(big));
    });
  });
}

describe('where the two libraries differ (pinned, so a change is noticed)', () => {
  const badMd5 = Buffer.from(aggregate);
  badMd5[badMd5.length - 1] ^= 1;

  test('wrong MD5: npm throws; Python passes the record through as a plain record', async () => {
    await assert.rejects(deaggregateNpm([{ data: badMd5, partitionKey: 'k' }]), /Invalid record checksum/);
    assert.deepEqual(await deaggregatePython([{ data: badMd5, partitionKey: 'k' }]), [
      { data: badMd5, partitionKey: 'k' },
    ]);
  });

  test('magic + fewer than 17 bytes: npm throws; Python passes it through', async () => {
    const short = Buffer.concat([MAGIC, Buffer.from([1, 2, 3])]);
    await assert.rejects(deaggregateNpm([{ data: short, partitionKey: 'k' }]));
    assert.deepEqual(await deaggregatePython([{ data: short, partitionKey: 'k' }]), [
      { data: short, partitionKey: 'k' },
    ]);
  });

  test('an aggregate with zero user records (20 bytes): npm gives nothing; Python passes it through', async () => {
    const empty = kplAggregate({ partitionKeys: [], records: [] });
    assert.equal(empty.length, 20);
    assert.deepEqual(await deaggregateNpm([{ data: empty, partitionKey: 'k' }]), []);
    assert.deepEqual(await deaggregatePython([{ data: empty, partitionKey: 'k' }]), [
      { data: empty, partitionKey: 'k' },
    ]);
  });

  test('explicit_hash_key_index out of range: npm drops the key silently; Python fails (surfaced as an error)', async () => {
    const agg = kplAggregate({
      partitionKeys: ['a'],
      explicitHashKeys: ['1'],
      records: [{ pk: 0, ehk: 5, data: 'x' }],
    });
    assert.deepEqual(await deaggregateNpm([{ data: agg, partitionKey: 'a' }]), [
      { data: Buffer.from('x'), partitionKey: 'a', subSequenceNumber: 0 },
    ]);
    await assert.rejects(deaggregatePython([{ data: agg, partitionKey: 'a' }]), /IndexError|index out of range/);
  });

  test('partition_key_index out of range: both wrappers throw (npm would give partitionKey undefined)', async () => {
    const agg = kplAggregate({ partitionKeys: ['a'], records: [{ pk: 3, data: 'x' }] });
    await assert.rejects(deaggregateNpm([{ data: agg, partitionKey: 'a' }]), /no partition key/);
    await assert.rejects(deaggregatePython([{ data: agg, partitionKey: 'a' }]), /aws_kinesis_agg failed on record 0/);
  });

  test('bad input shape is refused before decoding', async () => {
    await assert.rejects(deaggregateNpm([{ data: 'not bytes', partitionKey: 'k' }]), TypeError);
    await assert.rejects(deaggregatePython([{ data: Buffer.from('x') }]), TypeError);
  });
});

describe('end to end through kinesalite', () => {
  let server;
  after(() => server?.stop());

  test('an aggregate put with PutRecords and read back decodes with both libraries', async () => {
    server = await startKinesalite({ streams: { agg: 2 } });
    await kinesisCall({
      endpoint: server.endpoint,
      action: 'PutRecords',
      body: {
        StreamName: 'agg',
        Records: [
          { Data: aggregate.toString('base64'), PartitionKey: MULTI_BYTE_KEY, ExplicitHashKey: '0' },
          { Data: Buffer.from('plain').toString('base64'), PartitionKey: 'p', ExplicitHashKey: '0' },
        ],
      },
    });
    const stored = await readAllRecords({ endpoint: server.endpoint, stream: 'agg' });
    assert.equal(stored.length, 2);
    const npm = await deaggregateNpm(stored);
    const py = await deaggregatePython(stored);
    assert.deepEqual(npm, py);
    assert.deepEqual(
      npm.map((u) => [u.partitionKey, u.data.toString('latin1'), u.subSequenceNumber, u.shardId]),
      [
        [MULTI_BYTE_KEY, 'first', 0, 'shardId-000000000000'],
        ['plain-key', BINARY.toString('latin1'), 1, 'shardId-000000000000'],
        [MULTI_BYTE_KEY, '', 2, 'shardId-000000000000'],
        ['p', 'plain', undefined, 'shardId-000000000000'],
      ],
    );
    assert.equal(npm[0].sequenceNumber, stored[0].sequenceNumber);
    assert.equal(npm[3].sequenceNumber, stored[1].sequenceNumber);
  });
});
