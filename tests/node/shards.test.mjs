// Shard-aware producing end to end (issue 13): KPL aggregation read back from kinesis-local and
// decoded by two independent decoders (npm and PyPI aws-kinesis-agg); the per-shard rate limiter
// against a server that enforces per-shard limits per second; PutRecord; the stream's own record
// limit; the fallbacks when ListShards and DescribeStreamSummary are denied.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesisLocal, readAllRecords } from '../support/servers.mjs';
import { startShardLimitServer, hashKeyOf } from '../support/shard-limit-server.mjs';
import { deaggregateNpm, deaggregatePython } from '../support/deaggregate.mjs';
import { startFaultProxy, chaosDecider } from '../support/fault-proxy.mjs';
import { KinesisBatchDispatcher, KinesisBatchError } from '../../pkg/node.js';
import { LOCAL_CREDENTIALS } from './helpers.mjs';

const NO_TIMEOUT = 600000;

/** A dispatcher for `stream` at `endpoint`, with the test credentials and `options`. */
const dispatcher = (stream, endpoint, options) =>
  new KinesisBatchDispatcher(stream, { region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS, ...options });

/** `{"i":N,...}` of about `bytes` bytes, with a key of its own among `keys`. */
function event(i, keys, bytes = 250) {
  const head = { i, key: `customer-${i % keys}`, city: 'Zürich' };
  return { ...head, pad: 'x'.repeat(Math.max(0, bytes - JSON.stringify(head).length - 10)) };
}

describe('shard-aware producing against kinesis-local', () => {
  let kl;
  before(async () => {
    kl = await startKinesisLocal({
      streams: { agg: 4, single: 2, ordagg: 4, ordraw: 4, unordered: 4 },
      env: { CREATE_STREAM_DURATION: '0ms' },
    });
  });
  after(async () => {
    await kl?.stop();
  });

  test('aggregate: every record comes back through both decoders with its key, on its shard', {
    timeout: NO_TIMEOUT,
  }, async () => {
    const N = 3000;
    const notices = [];
    const kn = dispatcher('agg', kl.endpoint, {
      partitionKeyIdentifier: 'key',
      aggregate: true,
      requestTimeoutMs: NO_TIMEOUT,
      onProgress: (p) => p.notice && notices.push(p.notice),
    });
    for (let i = 0; i < N; i++) await kn.submitPayload(event(i, 100));
    const report = await kn.flushPayloads();
    assert.equal(report.sent, N);
    assert.equal(report.failedCount, 0);
    assert.deepEqual(notices, [], 'ListShards and DescribeStreamSummary answered');
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'agg', credentials: LOCAL_CREDENTIALS });
    assert.ok(stored.length <= N / 50, `${stored.length} Kinesis records for ${N} user records`);
    for (const decode of [deaggregateNpm, deaggregatePython]) {
      const users = await decode(stored);
      const seen = new Map();
      for (const u of users) {
        const value = JSON.parse(u.data.toString('utf8'));
        assert.equal(u.partitionKey, value.key, 'each record keeps its own partition key');
        seen.set(value.i, (seen.get(value.i) ?? 0) + 1);
      }
      assert.equal(seen.size, N, `${decode.name}: every record`);
      assert.ok(
        [...seen.values()].every((n) => n === 1),
        `${decode.name}: no duplicates without faults`,
      );
    }
  });

  /** Per key, the first stored copy of each record comes in submit order; returns the count. */
  async function firstCopiesInOrder(stream) {
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream, credentials: LOCAL_CREDENTIALS });
    const users = await deaggregateNpm(stored);
    const seen = new Set();
    const last = new Map();
    let outOfOrder = 0;
    for (const u of users) {
      const { i, key } = JSON.parse(u.data.toString('utf8'));
      if (seen.has(i)) continue;
      seen.add(i);
      if (last.has(key) && last.get(key) > i) outOfOrder++;
      last.set(key, i);
    }
    return { records: seen.size, outOfOrder };
  }

  /** 1,500 records over 20 keys through the fault proxy, then read back: `firstCopiesInOrder`. */
  async function deliverThroughFaults(stream, options) {
    const N = 1500;
    const proxy = await startFaultProxy({ target: kl.endpoint, decide: chaosDecider({ seed: 13, delayRate: 0 }) });
    try {
      const kn = dispatcher(stream, proxy.endpoint, {
        partitionKeyIdentifier: 'key',
        maxAttempts: 100,
        retryBaseDelayMs: 20,
        requestTimeoutMs: NO_TIMEOUT,
        ...options,
      });
      for (let i = 0; i < N; i++) await kn.submitPayload(event(i, 20, 150));
      assert.equal((await kn.flushPayloads()).sent, N);
      const { failRecords, status, throttle, resetBefore, resetAfter } = proxy.stats;
      assert.ok(failRecords > 0 && status + throttle + resetBefore + resetAfter > 0, JSON.stringify(proxy.stats));
    } finally {
      await proxy.stop();
    }
    const read = await firstCopiesInOrder(stream);
    assert.equal(read.records, N);
    return read;
  }

  for (const aggregate of [true, false]) {
    test(`ordered${aggregate ? ' + aggregate' : ''}: each key's records are stored in submit order under faults`, {
      timeout: NO_TIMEOUT,
    }, async () => {
      // Small aggregates: many requests, so the faults hit aggregates too.
      const options = { ordered: true, aggregate, maxAggregateBytes: 2000 };
      const { outOfOrder } = await deliverThroughFaults(aggregate ? 'ordagg' : 'ordraw', options);
      assert.equal(outOfOrder, 0);
    });
  }

  test('the control: without ordered, the same faults reorder some key', { timeout: NO_TIMEOUT }, async () => {
    const { outOfOrder } = await deliverThroughFaults('unordered', {});
    assert.ok(outOfOrder > 0, 'partial failures and retries reorder records without ordered');
  });

  test('putRecord returns where the record landed; the report does not count it', async () => {
    const kn = dispatcher('single', kl.endpoint, {});
    const first = await kn.putRecord({ hello: 1 }, { partitionKey: 'a' });
    const second = await kn.putRecord('two', { partitionKey: 'a', sequenceNumberForOrdering: first.sequenceNumber });
    assert.match(first.shardId, /^shardId-/);
    assert.equal(second.shardId, first.shardId);
    assert.ok(BigInt(second.sequenceNumber) > BigInt(first.sequenceNumber));
    await assert.rejects(
      kn.putRecord('x', { partitionKey: '' }),
      (e) => e instanceof KinesisBatchError && e.code === 'InvalidPartitionKey',
    );
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 0);
    assert.equal(report.requests, 0);
  });
});

async function throttles(shardRateLimit, keys) {
  const server = await startShardLimitServer({ shards: 2, stream: 'limited' });
  try {
    const kn = dispatcher('limited', server.url, {
      partitionKeyIdentifier: 'key',
      maxInFlight: 8,
      maxAttempts: 100,
      retryBaseDelayMs: 50,
      ...(shardRateLimit ? { shardRateLimit } : {}),
    });
    const started = performance.now();
    for (let i = 0; i < 5000; i++) await kn.submitPayload(event(i, keys, 100));
    const report = await kn.flushPayloads();
    const seconds = (performance.now() - started) / 1000;
    assert.equal(report.sent, 5000);
    return { throttled: server.stats().throttled, perSecond: 5000 / seconds };
  } finally {
    await server.close();
  }
}

describe('the per-shard rate limiter against a server enforcing per-shard limits per second', () => {
  for (const keys of [1000, 1]) {
    test(`${keys === 1 ? 'a hot key' : `${keys} keys`}: at least 90% fewer throttles at equal or better records/s`, {
      timeout: NO_TIMEOUT,
    }, async () => {
      const without = await throttles(undefined, keys);
      const limited = await throttles(1, keys);
      console.log(
        `# ${keys} keys: throttled ${without.throttled} → ${limited.throttled}, records/s ${without.perSecond.toFixed(0)} → ${limited.perSecond.toFixed(0)}`,
      );
      assert.ok(without.throttled > 0, 'the server throttles an unlimited producer');
      assert.ok(limited.throttled * 10 <= without.throttled, `${limited.throttled} vs ${without.throttled}`);
      assert.ok(limited.perSecond >= without.perSecond * 0.9, `${limited.perSecond} vs ${without.perSecond} records/s`);
    });
  }
});

describe("the stream's own limits, resharding and the fallbacks", () => {
  test('after a reshard, every record has a copy on the shard that owns its hash key (a KCL keeps it)', {
    timeout: NO_TIMEOUT,
  }, async () => {
    const server = await startShardLimitServer({
      shards: 2,
      stream: 'split',
      reshardAfter: { accepted: 10, shards: 5 },
    });
    try {
      const kn = dispatcher('split', server.url, {
        partitionKeyIdentifier: 'key',
        aggregate: true,
        maxAggregateBytes: 2000,
        maxBatchSize: 4,
        maxInFlight: 1,
      });
      for (let i = 0; i < 3000; i++) await kn.submitPayload(event(i, 300, 120));
      assert.equal((await kn.flushPayloads()).sent, 3000);
      const ranges = new Map(server.shards().map((s) => [s.shardId, s]));
      const users = await deaggregateNpm(server.records());
      const kept = new Set();
      for (const u of users) {
        const { i } = JSON.parse(u.data.toString('utf8'));
        const shard = ranges.get(u.shardId);
        const hash = hashKeyOf(u.partitionKey);
        if (BigInt(shard.startingHashKey) <= hash && hash <= BigInt(shard.endingHashKey)) kept.add(i);
      }
      assert.equal(kept.size, 3000, `${3000 - kept.size} records only on shards a KCL drops them from`);
      assert.ok(server.stats().byAction.ListShards >= 2, 'the shard map was listed again');
    } finally {
      await server.close();
    }
  });

  test("discoverLimits: a record over the stream's MaxRecordSize is refused at submit, naming it", async () => {
    const server = await startShardLimitServer({ shards: 1, stream: 'small', maxRecordSizeKiB: 1 });
    try {
      const kn = dispatcher('small', server.url, {
        discoverLimits: true,
      });
      await assert.rejects(kn.submitPayload(new Uint8Array(1100), { partitionKey: 'k' }), (e) => {
        assert.equal(e.code, 'RecordTooLarge');
        assert.match(e.message, /MaxRecordSize is 1024/);
        return true;
      });
      await kn.submitPayload(new Uint8Array(1000), { partitionKey: 'k' });
      assert.equal((await kn.flushPayloads()).sent, 1);
    } finally {
      await server.close();
    }
  });

  test('denied ListShards and DescribeStreamSummary: records still go, grouped by key, said once', async () => {
    const server = await startShardLimitServer({ shards: 2, stream: 'denied', denyControlPlane: true });
    try {
      const notices = [];
      const kn = dispatcher('denied', server.url, {
        partitionKeyIdentifier: 'key',
        aggregate: true,
        onProgress: (p) => p.notice && notices.push(p.notice),
      });
      for (let i = 0; i < 500; i++) await kn.submitPayload(event(i, 5, 100));
      const report = await kn.flushPayloads();
      assert.equal(report.sent, 500);
      assert.equal(notices.filter((n) => n.includes('ListShards')).length, 1, notices.join('\n'));
      const records = server.records();
      const users = await deaggregateNpm(records.map((r) => ({ ...r, data: r.data })));
      assert.equal(users.length, 500);
      assert.ok(records.length <= 10, `${records.length} Kinesis records: one aggregate per key`);
    } finally {
      await server.close();
    }
  });
});
