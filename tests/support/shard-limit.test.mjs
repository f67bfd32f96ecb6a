// Self-test of the per-shard rate-limit server (shard-limit-server.mjs).
// Run from the repository root: node --test tests/support/shard-limit.test.mjs
// Needs: (cd tests && npm ci) (kinesis-local, for the cross-check of the shard split).

import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { startShardLimitServer, evenShardRanges, hashKeyOf, MAX_BODY_BYTES } from './shard-limit-server.mjs';
import { kinesisCall, kinesisRequest, startKinesisLocal } from './servers.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');
const TWO_128 = 2n ** 128n;

/** Independent of the server: the shard index CreateStream's even split gives a hash key. */
function expectedShardIndex(hash, n) {
  const width = TWO_128 / BigInt(n);
  const i = hash / width;
  return Number(i >= BigInt(n) ? BigInt(n - 1) : i);
}
const md5Hash = (key) => BigInt(`0x${createHash('md5').update(Buffer.from(key, 'utf8')).digest('hex')}`);
const shardId = (i) => `shardId-${String(i).padStart(12, '0')}`;

/** An explicit hash key inside shard `i` of `n` (its first key). */
const ehkOfShard = (i, n) => ((TWO_128 / BigInt(n)) * BigInt(i)).toString();

function put(server, records, extra = {}) {
  return kinesisCall({
    endpoint: server.url,
    action: 'PutRecords',
    body: { StreamName: server.stream, Records: records, ...extra },
  });
}

const rec = (data, pk, ehk) => ({
  Data: b64(data),
  PartitionKey: pk,
  ...(ehk === undefined ? {} : { ExplicitHashKey: ehk }),
});

const servers = [];
async function start(opts) {
  const s = await startShardLimitServer(opts);
  servers.push(s);
  return s;
}
after(() => Promise.all(servers.map((s) => s.close())));

describe('shard split and routing', () => {
  test('even split: width floor(2^128/n), last shard takes the rest, ids shardId-000000000000…', () => {
    for (const n of [1, 2, 3, 4, 7, 1000]) {
      const ranges = evenShardRanges(n);
      assert.equal(ranges.length, n);
      assert.equal(ranges[0].start, 0n);
      assert.equal(ranges[n - 1].end, TWO_128 - 1n);
      for (let i = 0; i < n - 1; i++) {
        assert.equal(ranges[i].end - ranges[i].start + 1n, TWO_128 / BigInt(n));
        assert.equal(ranges[i + 1].start, ranges[i].end + 1n);
      }
    }
    assert.throws(() => evenShardRanges(0), RangeError);
  });

  test('hash key: MD5 of the UTF-8 key, big-endian; an explicit hash key wins', () => {
    assert.equal(hashKeyOf('a'), 0x0cc175b9c0f1b6a831c399e269772661n);
    assert.equal(hashKeyOf('ключ🔑'), md5Hash('ключ🔑'));
    assert.equal(hashKeyOf('a', '17'), 17n);
    assert.throws(() => hashKeyOf('a', TWO_128.toString()), /ExplicitHashKey must be in the range/);
    assert.throws(() => hashKeyOf('a', '-1'));
  });

  test('PutRecords lands each record on the shard its hash key is in (keys and explicit hash keys)', async () => {
    const s = await start({ shards: 3 });
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}-é🔑`);
    const edges = [];
    for (const { start: a, end: z } of evenShardRanges(3)) edges.push(a.toString(), z.toString());
    const records = [...keys.map((k) => rec('x', k)), ...edges.map((e) => rec('y', 'edge', e))];
    const r = await put(s, records);
    assert.equal(r.FailedRecordCount, 0);
    keys.forEach((k, i) => {
      assert.equal(r.Records[i].ShardId, shardId(expectedShardIndex(md5Hash(k), 3)));
      assert.equal(s.shardFor(k), r.Records[i].ShardId);
    });
    assert.deepEqual(
      r.Records.slice(keys.length).map((e) => e.ShardId),
      [0, 0, 1, 1, 2, 2].map(shardId),
    );
    assert.ok(new Set(r.Records.slice(0, keys.length).map((e) => e.ShardId)).size === 3);
  });

  test('same ranges and the same shard per key as kinesis-local (3 and 5 shards)', async (t) => {
    const kl = await startKinesisLocal({ streams: { three: 3, five: 5 }, env: { CREATE_STREAM_DURATION: '0ms' } });
    t.after(() => kl.stop());
    for (const [stream, n] of [
      ['three', 3],
      ['five', 5],
    ]) {
      const ours = await start({ shards: n, stream, pageSize: 100 });
      const theirShards = (
        await kinesisCall({ endpoint: kl.endpoint, action: 'ListShards', body: { StreamName: stream } })
      ).Shards;
      const ourShards = (await kinesisCall({ endpoint: ours.url, action: 'ListShards', body: { StreamName: stream } }))
        .Shards;
      assert.deepEqual(
        ourShards.map((x) => [x.ShardId, x.HashKeyRange]),
        theirShards.map((x) => [x.ShardId, x.HashKeyRange]),
      );
      const records = Array.from({ length: 100 }, (_, i) => rec(`d${i}`, `pk-${i}-ü`));
      const theirs = await kinesisCall({
        endpoint: kl.endpoint,
        action: 'PutRecords',
        body: { StreamName: stream, Records: records },
      });
      const mine = await put(ours, records);
      assert.deepEqual(
        mine.Records.map((e) => e.ShardId),
        theirs.Records.map((e) => e.ShardId),
      );
    }
  });
});

describe('rate limit per shard per second', () => {
  test('records: at most recordsPerSecond per shard in one second; other shards unaffected', async () => {
    let clock = 1_000_000_500; // ms, mid-second
    const s = await start({ shards: 4, recordsPerSecond: 10, now: () => clock });
    const toShard0 = Array.from({ length: 15 }, (_, i) => rec(`a${i}`, 'k', ehkOfShard(0, 4)));
    const toShard2 = Array.from({ length: 5 }, (_, i) => rec(`b${i}`, 'k', ehkOfShard(2, 4)));
    const r = await put(s, [...toShard0, ...toShard2]);
    assert.equal(r.FailedRecordCount, 5);
    r.Records.forEach((e, i) => {
      if (i >= 10 && i < 15) {
        assert.deepEqual(e, {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded for shard shardId-000000000000 in stream limited under account 000000000000.',
        });
      } else {
        assert.equal(e.ShardId, i < 15 ? shardId(0) : shardId(2));
        assert.match(e.SequenceNumber, /^\d+$/);
      }
    });

    // Same second, new request: shard 0 is full, shard 2 has 5 left.
    clock += 400;
    const r2 = await put(s, [
      rec('c', 'k', ehkOfShard(0, 4)),
      ...Array.from({ length: 6 }, (_, i) => rec(`d${i}`, 'k', ehkOfShard(2, 4))),
    ]);
    assert.deepEqual(
      r2.Records.map((e) => e.ErrorCode ?? e.ShardId),
      [
        'ProvisionedThroughputExceededException',
        ...Array(5).fill(shardId(2)),
        'ProvisionedThroughputExceededException',
      ],
    );

    // The next wall-clock second (a fixed window, not a sliding one): 10 more for shard 0.
    clock = 1_000_001_000;
    const r3 = await put(
      s,
      Array.from({ length: 11 }, (_, i) => rec(`e${i}`, 'k', ehkOfShard(0, 4))),
    );
    assert.equal(r3.FailedRecordCount, 1);
    assert.equal(r3.Records[10].ErrorCode, 'ProvisionedThroughputExceededException');

    const st = s.stats();
    assert.deepEqual(st.perShard[shardId(0)], { accepted: 20, throttled: 7, bytes: 20 * 3 });
    assert.deepEqual(st.perShard[shardId(2)], { accepted: 10, throttled: 1, bytes: 10 * 3 });
    assert.deepEqual(st.perShard[shardId(1)], { accepted: 0, throttled: 0, bytes: 0 });
    assert.equal(st.accepted, 30);
    assert.equal(st.throttled, 8);
    assert.equal(st.requests, 3);
    assert.deepEqual(st.byAction, { PutRecords: 3 });
  });

  test('bytes: data after base64 decoding + UTF-8 key bytes; a smaller later record may still fit', async () => {
    const clock = 5_000_000_000;
    const s = await start({ shards: 1, bytesPerSecond: 100, now: () => clock });
    // 'é' is 2 UTF-8 bytes: each record is 30 + 2 = 32 bytes.
    const r = await put(s, [
      rec('x'.repeat(30), 'é'),
      rec('x'.repeat(30), 'é'),
      rec('x'.repeat(30), 'é'),
      rec('x'.repeat(30), 'é'), // 128 > 100: throttled
      rec('xx', 'é'), // 96 + 4 = 100: fits
      rec('', 'k'), // 101: throttled
    ]);
    assert.deepEqual(
      r.Records.map((e) => (e.ErrorCode ? 'T' : 'ok')),
      ['ok', 'ok', 'ok', 'T', 'ok', 'T'],
    );
    assert.equal(r.FailedRecordCount, 2);
    assert.equal(s.stats().perShard[shardId(0)].bytes, 100);
  });

  test('real clock: one request over the limit is cut at exactly the limit; the next second accepts again', async () => {
    const s = await start({ shards: 2, recordsPerSecond: 20 });
    await sleep(1000 - (Date.now() % 1000) + 5); // just after a second boundary
    const r = await put(
      s,
      Array.from({ length: 30 }, (_, i) => rec(`r${i}`, 'k', '0')),
    );
    assert.equal(r.FailedRecordCount, 10);
    assert.ok(r.Records.slice(0, 20).every((e) => e.ShardId === shardId(0)));
    await sleep(1000 - (Date.now() % 1000) + 5);
    const r2 = await put(
      s,
      Array.from({ length: 20 }, (_, i) => rec(`s${i}`, 'k', '0')),
    );
    assert.equal(r2.FailedRecordCount, 0);
  });

  test('PutRecord: 200 { ShardId, SequenceNumber }, then HTTP 400 ProvisionedThroughputExceededException', async () => {
    const s = await start({ shards: 2, recordsPerSecond: 2, now: () => 7_000_000_000 });
    const body = { StreamName: 'limited', Data: b64('one'), PartitionKey: 'pk', ExplicitHashKey: ehkOfShard(1, 2) };
    const ok1 = await kinesisCall({ endpoint: s.url, action: 'PutRecord', body });
    const ok2 = await kinesisCall({ endpoint: s.url, action: 'PutRecord', body });
    assert.equal(ok1.ShardId, shardId(1));
    assert.ok(BigInt(ok2.SequenceNumber) > BigInt(ok1.SequenceNumber));
    const r = await kinesisRequest({ endpoint: s.url, action: 'PutRecord', body });
    assert.equal(r.status, 400);
    assert.equal(r.errorType, 'ProvisionedThroughputExceededException');
    assert.equal(r.headers['x-amzn-errortype'], 'ProvisionedThroughputExceededException');
    assert.equal(
      r.json.message,
      'Rate exceeded for shard shardId-000000000001 in stream limited under account 000000000000.',
    );
    assert.deepEqual(s.stats().perShard[shardId(1)], { accepted: 2, throttled: 1, bytes: 10 });
    assert.equal(s.stats().throttled, 1);
  });
});

describe('records() and sequence numbers', () => {
  test('accepted records per shard in order, numeric sequence numbers increasing per shard; throttled ones absent', async () => {
    const s = await start({ shards: 2, recordsPerSecond: 3, now: () => 9_000_000_000 });
    const data = [Buffer.from([0, 1, 255]), Buffer.from('two'), Buffer.alloc(0), Buffer.from('four'), Buffer.from('5')];
    const r = await put(
      s,
      data.map((d, i) => ({ Data: d.toString('base64'), PartitionKey: `k${i}`, ExplicitHashKey: '1' })),
    );
    const r2 = await put(s, [rec('other', 'p', ehkOfShard(1, 2)), rec('no-ehk', 'some key')]);
    assert.equal(r.FailedRecordCount, 2);
    const got = s.records();
    const inShard0 = got.filter((x) => x.shardId === shardId(0));
    assert.deepEqual(
      inShard0.map((x) => [x.partitionKey, x.data, x.explicitHashKey]),
      data.slice(0, 3).map((d, i) => [`k${i}`, d, '1']),
    );
    assert.deepEqual(
      inShard0.map((x) => x.sequenceNumber),
      r.Records.slice(0, 3).map((e) => e.SequenceNumber),
    );
    for (let i = 1; i < inShard0.length; i++) {
      assert.ok(BigInt(inShard0[i].sequenceNumber) > BigInt(inShard0[i - 1].sequenceNumber));
    }
    // Shard 0's records come first, then shard 1's.
    const firstOf1 = got.findIndex((x) => x.shardId === shardId(1));
    assert.ok(got.slice(firstOf1).every((x) => x.shardId === shardId(1)));
    const noEhk = got.find((x) => x.partitionKey === 'some key');
    assert.equal(noEhk.shardId, r2.Records[1].ShardId);
    assert.equal('explicitHashKey' in noEhk, false);
    // A copy: changing it changes nothing in the server.
    got[0].data[0] = 42;
    assert.equal(s.records()[0].data[0], 0);
  });
});

describe('ListShards and DescribeStreamSummary', () => {
  test('pagination: pageSize 2 by default, MaxResults honoured, NextToken continues', async () => {
    const s = await start({ shards: 5 });
    const pages = [];
    let r = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { StreamName: 'limited' } });
    pages.push(r.Shards.map((x) => x.ShardId));
    while (r.NextToken) {
      r = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { NextToken: r.NextToken } });
      pages.push(r.Shards.map((x) => x.ShardId));
    }
    assert.deepEqual(pages, [[shardId(0), shardId(1)], [shardId(2), shardId(3)], [shardId(4)]]);
    const one = await kinesisCall({
      endpoint: s.url,
      action: 'ListShards',
      body: { StreamName: 'limited', MaxResults: 1 },
    });
    assert.equal(one.Shards.length, 1);
    const next = await kinesisCall({
      endpoint: s.url,
      action: 'ListShards',
      body: { NextToken: one.NextToken, MaxResults: 1 },
    });
    assert.deepEqual(
      next.Shards.map((x) => x.ShardId),
      [shardId(1)],
    );
    // By StreamARN; each shard has its range and an open sequence-number range.
    const byArn = await kinesisCall({
      endpoint: s.url,
      action: 'ListShards',
      body: { StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/limited', MaxResults: 10000 },
    });
    assert.deepEqual(byArn.Shards[0].HashKeyRange, {
      StartingHashKey: '0',
      EndingHashKey: (TWO_128 / 5n - 1n).toString(),
    });
    assert.match(byArn.Shards[0].SequenceNumberRange.StartingSequenceNumber, /^\d+$/);
    assert.equal(byArn.Shards[0].SequenceNumberRange.EndingSequenceNumber, undefined);
    const big = await start({ shards: 5, pageSize: 1000 });
    const all = await kinesisCall({ endpoint: big.url, action: 'ListShards', body: { StreamName: 'limited' } });
    assert.equal(all.Shards.length, 5);
    assert.equal(all.NextToken, undefined);
  });

  test('errors: NextToken with StreamName, a bad token, bad MaxResults, unknown stream', async () => {
    const s = await start({ shards: 3 });
    const first = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { StreamName: 'limited' } });
    const cases = [
      [{ StreamName: 'limited', NextToken: first.NextToken }, 'InvalidArgumentException'],
      [{ NextToken: 'garbage' }, 'InvalidArgumentException'],
      [{ StreamName: 'limited', MaxResults: 0 }, 'ValidationException'],
      [{ StreamName: 'nope' }, 'ResourceNotFoundException'],
      [{}, 'InvalidArgumentException'],
    ];
    for (const [body, type] of cases) {
      const r = await kinesisRequest({ endpoint: s.url, action: 'ListShards', body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.errorType, type, JSON.stringify(body));
    }
  });

  test('DescribeStreamSummary: ACTIVE, OpenShardCount; MaxRecordSizeInKiB only when configured', async () => {
    const s = await start({ shards: 3 });
    const d = (await kinesisCall({ endpoint: s.url, action: 'DescribeStreamSummary', body: { StreamName: 'limited' } }))
      .StreamDescriptionSummary;
    assert.equal(d.StreamStatus, 'ACTIVE');
    assert.equal(d.OpenShardCount, 3);
    assert.equal(d.StreamName, 'limited');
    assert.equal(d.StreamARN, 'arn:aws:kinesis:us-east-1:000000000000:stream/limited');
    assert.equal('MaxRecordSizeInKiB' in d, false);
    const big = await start({ shards: 1, maxRecordSizeKiB: 10240, stream: 'big' });
    const d2 = (await kinesisCall({ endpoint: big.url, action: 'DescribeStreamSummary', body: { StreamName: 'big' } }))
      .StreamDescriptionSummary;
    assert.equal(d2.MaxRecordSizeInKiB, 10240);
    assert.equal(d2.OpenShardCount, 1);
  });

  test('denyControlPlane: ListShards and DescribeStreamSummary → 400 AccessDeniedException; puts still work', async () => {
    const s = await start({ shards: 2, denyControlPlane: true });
    for (const action of ['ListShards', 'DescribeStreamSummary']) {
      const r = await kinesisRequest({ endpoint: s.url, action, body: { StreamName: 'limited' } });
      assert.equal(r.status, 400);
      assert.equal(r.errorType, 'AccessDeniedException');
      assert.match(r.json.message, new RegExp(`not authorized to perform: kinesis:${action}`));
    }
    const p = await put(s, [rec('x', 'k')]);
    assert.equal(p.FailedRecordCount, 0);
    const only = await start({ shards: 2, denyControlPlane: ['ListShards'] });
    assert.equal(
      (await kinesisRequest({ endpoint: only.url, action: 'ListShards', body: { StreamName: 'limited' } })).status,
      400,
    );
    assert.equal(
      (await kinesisRequest({ endpoint: only.url, action: 'DescribeStreamSummary', body: { StreamName: 'limited' } }))
        .status,
      200,
    );
    assert.deepEqual(s.stats().byAction, { ListShards: 1, DescribeStreamSummary: 1, PutRecords: 1 });
  });
});

describe('resharding', () => {
  test('reshard(n): old shards closed, new ids, acknowledged ShardId differs from the old prediction', async () => {
    const s = await start({ shards: 4 });
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const before = await put(
      s,
      keys.map((k) => rec('v1', k)),
    );
    const predicted = before.Records.map((e) => e.ShardId);
    assert.deepEqual(s.reshard(3), [shardId(4), shardId(5), shardId(6)]);
    const afterPut = await put(
      s,
      keys.map((k) => rec('v2', k)),
    );
    keys.forEach((k, i) => {
      assert.equal(afterPut.Records[i].ShardId, shardId(4 + expectedShardIndex(md5Hash(k), 3)));
      assert.notEqual(afterPut.Records[i].ShardId, predicted[i]);
    });

    const listed = [];
    let r = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { StreamName: 'limited' } });
    listed.push(...r.Shards);
    while (r.NextToken) {
      r = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { NextToken: r.NextToken } });
      listed.push(...r.Shards);
    }
    assert.deepEqual(
      listed.map((x) => [x.ShardId, x.SequenceNumberRange.EndingSequenceNumber !== undefined]),
      [0, 1, 2, 3, 4, 5, 6].map((i) => [shardId(i), i < 4]),
    );
    // A closed shard's ending sequence number is not below any of its records'.
    for (const x of listed.slice(0, 4)) {
      for (const stored of s.records().filter((y) => y.shardId === x.ShardId)) {
        assert.ok(BigInt(stored.sequenceNumber) <= BigInt(x.SequenceNumberRange.EndingSequenceNumber));
      }
    }
    assert.equal(listed[4].ParentShardId, shardId(0));
    const open = await kinesisCall({
      endpoint: s.url,
      action: 'ListShards',
      body: { StreamName: 'limited', ShardFilter: { Type: 'AT_LATEST' }, MaxResults: 100 },
    });
    assert.deepEqual(
      open.Shards.map((x) => x.ShardId),
      [shardId(4), shardId(5)],
    );
    const rest = await kinesisCall({ endpoint: s.url, action: 'ListShards', body: { NextToken: open.NextToken } });
    assert.deepEqual(
      rest.Shards.map((x) => x.ShardId),
      [shardId(6)],
    );
    const d = await kinesisCall({ endpoint: s.url, action: 'DescribeStreamSummary', body: { StreamName: 'limited' } });
    assert.equal(d.StreamDescriptionSummary.OpenShardCount, 3);
    assert.deepEqual(
      s.shards().map((x) => x.open),
      [false, false, false, false, true, true, true],
    );
    assert.equal(s.records().length, 80);
    assert.throws(() => s.reshard(0), RangeError);
    assert.equal(s.shards().filter((x) => x.open).length, 3);
  });

  test('reshardAfter { accepted, shards }: the next Put request after that many accepted records sees the new shards', async () => {
    const s = await start({ shards: 2, reshardAfter: { accepted: 5, shards: 4 } });
    const first = await put(
      s,
      Array.from({ length: 5 }, (_, i) => rec('a', `k${i}`)),
    );
    assert.ok(first.Records.every((e) => e.ShardId === shardId(0) || e.ShardId === shardId(1)));
    const second = await put(s, [rec('b', 'x', '0'), rec('b', 'y', (TWO_128 - 1n).toString())]);
    assert.deepEqual(
      second.Records.map((e) => e.ShardId),
      [shardId(2), shardId(5)],
    );
    const single = await kinesisCall({
      endpoint: s.url,
      action: 'PutRecord',
      body: { StreamName: 'limited', Data: b64('c'), PartitionKey: 'z', ExplicitHashKey: '0' },
    });
    assert.equal(single.ShardId, shardId(2)); // once only
  });
});

describe('protocol edges', () => {
  let s;
  before(async () => {
    s = await start({ shards: 2, bytesPerSecond: 100 * 1024 * 1024, recordsPerSecond: 100000 });
  });

  test('a body of 10 MiB + 1 byte → 413; a 9.9 MiB PutRecords → 200; the server keeps serving', async () => {
    const tooBig = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const r = await kinesisRequest({ endpoint: s.url, action: 'PutRecords', body: tooBig });
    assert.equal(r.status, 413);
    const chunk = 'x'.repeat(19 * 1024);
    const records = Array.from({ length: 400 }, (_, i) => ({ Data: b64(chunk), PartitionKey: `k${i}` }));
    const body = JSON.stringify({ StreamName: 'limited', Records: records });
    assert.ok(body.length > 9.9 * 1024 * 1024 && body.length <= MAX_BODY_BYTES, String(body.length));
    const ok = await kinesisRequest({ endpoint: s.url, action: 'PutRecords', body });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.FailedRecordCount, 0);
  });

  test('validation: 501 records, empty key, bad base64, bad ExplicitHashKey, bad JSON, unknown action', async () => {
    const cases = [
      [
        'PutRecords',
        { StreamName: 'limited', Records: Array.from({ length: 501 }, () => rec('x', 'k')) },
        'ValidationException',
      ],
      ['PutRecords', { StreamName: 'limited', Records: [] }, 'ValidationException'],
      ['PutRecords', { StreamName: 'limited', Records: [rec('x', '')] }, 'ValidationException'],
      [
        'PutRecords',
        { StreamName: 'limited', Records: [{ Data: 'not base64!', PartitionKey: 'k' }] },
        'SerializationException',
      ],
      [
        'PutRecords',
        { StreamName: 'limited', Records: [rec('x', 'k', TWO_128.toString())] },
        'InvalidArgumentException',
      ],
      ['PutRecords', { StreamName: 'other', Records: [rec('x', 'k')] }, 'ResourceNotFoundException'],
      ['PutRecords', '{not json', 'SerializationException'],
      ['CreateStream', { StreamName: 'x', ShardCount: 1 }, 'UnknownOperationException'],
    ];
    const acceptedBefore = s.stats().accepted;
    for (const [action, body, type] of cases) {
      const r = await kinesisRequest({ endpoint: s.url, action, body });
      assert.equal(r.status, 400, `${action} ${type}`);
      assert.equal(r.errorType, type);
    }
    assert.equal(s.stats().accepted, acceptedBefore); // a refused request stores nothing
  });

  test('keep-alive: many requests on one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    for (let i = 0; i < 5; i++) {
      const payload = JSON.stringify({ StreamName: 'limited', Records: [rec('ka', `k${i}`)] });
      const status = await new Promise((resolve, reject) => {
        const req = http.request(
          `${s.url}/`,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.PutRecords' },
          },
          (res) => {
            sockets.add(req.socket);
            res.resume();
            res.on('end', () => resolve(res.statusCode));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
      assert.equal(status, 200);
    }
    assert.equal(sockets.size, 1);
    agent.destroy();
  });

  test('binds 127.0.0.1 only; close() frees the port', async () => {
    const t = await startShardLimitServer({});
    const { hostname, port } = new URL(t.url);
    assert.equal(hostname, '127.0.0.1');
    const listening = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3])
      .filter((addr) => addr?.endsWith(`:${port}`));
    assert.deepEqual(listening, [`127.0.0.1:${port}`]);
    await t.close();
    await t.close(); // idempotent
    const refused = await new Promise((resolve) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      sock.on('connect', () => {
        sock.destroy();
        resolve(false);
      });
      sock.on('error', () => resolve(true));
    });
    assert.ok(refused);
  });
});
