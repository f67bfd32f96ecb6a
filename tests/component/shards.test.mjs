// Shard-aware producing through the component (issue 13, world 0.3.0): the options and
// put-record reach the same engine as the npm package's.
//   - against kinesis-local (its own process; the transport is the default synchronous fetch on
//     a worker thread): `aggregate: true` records read back and decoded by npm aws-kinesis-agg
//     with their keys, and put-record's shard id and sequence number;
//   - in process, with a synchronous transport that answers like Kinesis: out-of-range options
//     are invalid-option, denied ListShards / DescribeStreamSummary come as notices in
//     `progress`, and a put-record that is never stored is `record-failed` with its code.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesisLocal, readAllRecords, stopAllServers } from '../support/servers.mjs';
import { deaggregateNpm } from '../support/deaggregate.mjs';
import { errorOf, loadComponent, withComponent } from './host.mjs';

const CREDENTIALS = { accessKeyId: 'AKIDCOMPONENTSHARDS', secretAccessKey: 'component-shards-secret' };
const NO_TIMEOUT = 600_000;
const shardId = (index) => `shardId-${String(index).padStart(12, '0')}`;

/** `{"i":N,"key":...}` of about `bytes` bytes, its key one of `keys`. */
function event(i, keys, bytes = 200) {
  const head = { i, key: `customer-${i % keys}`, city: 'Zürich' };
  const pad = 'x'.repeat(Math.max(0, bytes - JSON.stringify(head).length - 10));
  return { tag: 'json', val: JSON.stringify({ ...head, pad }) };
}

after(stopAllServers);

describe('the component against kinesis-local', () => {
  let kl;
  let component;
  before(async () => {
    kl = await startKinesisLocal({
      streams: { agg: 4, ordered: 4, single: 2 },
      env: { CREATE_STREAM_DURATION: '0ms' },
    });
    component = loadComponent();
  });
  after(async () => {
    await component?.close();
    await kl?.stop();
  });

  const options = (extra) => ({ region: 'us-east-1', endpoint: kl.endpoint, credentials: CREDENTIALS, ...extra });

  test('aggregate: every record comes back through npm aws-kinesis-agg with its key, on its shard', {
    timeout: NO_TIMEOUT,
  }, async (t) => {
    const N = 2000;
    const api = component.dispatcher;
    const kn = new api.KinesisBatchDispatcher('agg', options({ partitionKeyIdentifier: 'key', aggregate: true }));
    for (let i = 0; i < N; i++) kn.submitPayload(event(i, 100));
    const report = kn.flushPayloads();
    assert.deepEqual(report.failed, []);
    assert.equal(Number(report.sent), N);
    const progress = kn.progress();
    assert.deepEqual(progress.notices, [], 'ListShards and DescribeStreamSummary answered');
    assert.equal(Number(progress.sent), N);

    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'agg' });
    assert.ok(stored.length <= N / 20, `${stored.length} Kinesis records for ${N} user records`);
    const users = await deaggregateNpm(stored);
    const seen = new Map();
    for (const u of users) {
      const value = JSON.parse(u.data.toString('utf8'));
      assert.equal(u.partitionKey, value.key, 'each record keeps its own partition key');
      assert.equal(u.shardId, shardId(api.shardIndexFor(value.key, 4)), `record ${value.i} is on its key's shard`);
      seen.set(value.i, (seen.get(value.i) ?? 0) + 1);
    }
    assert.equal(seen.size, N, 'every record');
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'no duplicates',
    );
    assert.ok(
      users.some((u) => u.subSequenceNumber !== undefined),
      'records came in aggregates',
    );
    t.diagnostic(`${N} records in ${stored.length} Kinesis records, ${report.requests} requests`);
  });

  test('ordered, shard-rate-limit and max-aggregate-bytes reach the engine: small aggregates, each key in submit order', {
    timeout: NO_TIMEOUT,
  }, async (t) => {
    const N = 1000;
    const api = component.dispatcher;
    const kn = new api.KinesisBatchDispatcher(
      'ordered',
      options({
        partitionKeyIdentifier: 'key',
        aggregate: true,
        maxAggregateBytes: 2000,
        ordered: true,
        shardRateLimit: 1,
      }),
    );
    for (let i = 0; i < N; i++) kn.submitPayload(event(i, 20));
    const report = kn.flushPayloads();
    assert.deepEqual([Number(report.sent), report.failed.length], [N, 0]);
    assert.deepEqual(kn.progress().notices, []);
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'ordered' });
    // 200-byte records in aggregates of at most 2000 bytes: at most 9 a piece.
    assert.ok(
      stored.length >= N / 9 && stored.length <= N / 4,
      `${stored.length} Kinesis records: aggregates, and maxAggregateBytes applies`,
    );
    assert.ok(
      stored.every((r) => r.data.length <= 2000),
      'no aggregate over maxAggregateBytes',
    );
    const users = await deaggregateNpm(stored);
    assert.equal(users.length, N);
    const last = new Map();
    for (const u of users) {
      const { i, key } = JSON.parse(u.data.toString('utf8'));
      assert.ok((last.get(key) ?? -1) < i, `${key}: record ${i} after ${last.get(key)}`);
      last.set(key, i);
    }
    t.diagnostic(`${N} records in ${stored.length} Kinesis records, ${report.requests} requests`);
  });

  test('put-record returns the shard id and sequence number; flush reports do not count it', async () => {
    const api = component.dispatcher;
    const kn = new api.KinesisBatchDispatcher('single', options());
    const data = (text) => new TextEncoder().encode(text);
    const first = kn.putRecord(data('{"hello":1}'), { partitionKey: 'a' });
    const second = kn.putRecord(data('two'), { partitionKey: 'a', sequenceNumberForOrdering: first.sequenceNumber });
    const third = kn.putRecord(data('three'), { partitionKey: 'b', explicitHashKey: '0' });
    assert.equal(first.shardId, shardId(api.shardIndexFor('a', 2)));
    assert.equal(second.shardId, first.shardId);
    assert.ok(BigInt(second.sequenceNumber) > BigInt(first.sequenceNumber), 'stored after the first');
    assert.equal(third.shardId, shardId(0), 'the explicit hash key picks the shard');

    const refused = errorOf(() => kn.putRecord(data('x'), { partitionKey: '' }));
    assert.equal(refused.code, 'invalid-partition-key');
    assert.equal(refused.errorCode, undefined);

    const report = kn.flushPayloads();
    assert.deepEqual([Number(report.sent), Number(report.requests), report.failed.length], [0, 0, 0]);

    const stored = await readAllRecords({ endpoint: kl.endpoint, stream: 'single' });
    const bySequence = new Map(stored.map((r) => [r.sequenceNumber, r]));
    for (const [out, key, text] of [
      [first, 'a', '{"hello":1}'],
      [second, 'a', 'two'],
      [third, 'b', 'three'],
    ]) {
      const r = bySequence.get(out.sequenceNumber);
      assert.ok(r, `${text} stored under ${out.sequenceNumber}`);
      assert.deepEqual([r.partitionKey, r.shardId, r.data.toString('utf8')], [key, out.shardId, text]);
    }
    assert.equal(stored.length, 3);
  });
});

/**
 * A transport that answers like Kinesis without a network: PutRecords and PutRecord succeed on
 * shard 0 unless `answer(action, body)` returns an answer; every call is recorded by action.
 */
function scripted(answer = () => undefined) {
  const calls = [];
  const fetch = (_url, init) => {
    const target = init.headers.find(([k]) => k === 'x-amz-target')?.[1] ?? '';
    const action = target.split('.').at(-1);
    const body = JSON.parse(Buffer.from(init.body).toString('utf8'));
    calls.push(action);
    const custom = answer(action, body);
    if (custom) return custom;
    const json = (value) => ({
      status: 200,
      headers: [['content-type', 'application/x-amz-json-1.1']],
      body: Buffer.from(JSON.stringify(value)),
    });
    if (action === 'PutRecord') return json({ ShardId: shardId(0), SequenceNumber: String(calls.length) });
    if (action === 'PutRecords')
      return json({
        FailedRecordCount: 0,
        Records: body.Records.map((_r, i) => ({ ShardId: shardId(0), SequenceNumber: String(i + 1) })),
      });
    throw new Error(`unexpected ${action}`);
  };
  return { calls, fetch };
}

const errorAnswer = (status, type, message) => ({
  status,
  headers: [['x-amzn-errortype', type]],
  body: Buffer.from(JSON.stringify({ __type: type, message })),
});

const local = (extra = {}) => ({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: CREDENTIALS,
  ...extra,
});

test(
  'out-of-range shard-aware options are invalid-option with the option name; the ranges are the engine’s',
  withComponent(null, (api) => {
    for (const [opts, option] of [
      [{ shardRateLimit: 0 }, 'shardRateLimit'],
      [{ shardRateLimit: 1.5 }, 'shardRateLimit'],
      [{ shardRateLimit: -0.5 }, 'shardRateLimit'],
      [{ shardRateLimit: Number.NaN }, 'shardRateLimit'],
      [{ maxAggregateBytes: 63 }, 'maxAggregateBytes'],
      [{ maxAggregateBytes: 10 * 1024 * 1024 + 1 }, 'maxAggregateBytes'],
    ]) {
      const e = errorOf(() => new api.KinesisBatchDispatcher('s', local(opts)));
      assert.equal(e.code, 'invalid-option', JSON.stringify(opts));
      assert.equal(e.option, option, JSON.stringify(opts));
      assert.ok(e.message.startsWith(`${option}: `), e.message);
    }
    // The edges are accepted (no request is made before a record arrives).
    for (const opts of [
      { shardRateLimit: 1, discoverLimits: false },
      { shardRateLimit: 0.001, discoverLimits: false },
      { aggregate: true, ordered: true, maxAggregateBytes: 64, discoverLimits: false },
    ])
      new api.KinesisBatchDispatcher('s', local(opts));
  }),
);

const denied = scripted((action) =>
  action === 'ListShards' || action === 'DescribeStreamSummary'
    ? errorAnswer(400, 'AccessDeniedException', `User is not authorized to perform: kinesis:${action}`)
    : undefined,
);

test(
  'denied ListShards and DescribeStreamSummary: records still go, grouped by key, and progress has each notice once',
  withComponent(denied, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', local({ partitionKeyIdentifier: 'key', aggregate: true }));
    for (let i = 0; i < 300; i++) kn.submitPayload(event(i, 3, 100));
    const report = kn.flushPayloads();
    assert.deepEqual(report.failed, []);
    assert.equal(Number(report.sent), 300);
    const { notices } = kn.progress();
    assert.equal(notices.length, 2, notices.join('\n'));
    assert.match(notices.find((n) => n.startsWith('DescribeStreamSummary')) ?? '', /AccessDeniedException/);
    assert.match(
      notices.find((n) => n.startsWith('ListShards')) ?? '',
      /aggregation groups only records with the same/,
    );
    assert.equal(denied.calls.filter((a) => a === 'ListShards').length, 1);
    assert.equal(denied.calls.filter((a) => a === 'DescribeStreamSummary').length, 1);
    assert.deepEqual(kn.progress().notices, notices, 'said once');
  }),
);

test('shard-aware options list the shards first; discover-limits: false skips DescribeStreamSummary', async () => {
  for (const [opts, expected] of [
    [{ ordered: true }, ['DescribeStreamSummary', 'ListShards']],
    [{ shardRateLimit: 0.5, discoverLimits: false }, ['ListShards']],
    [{ discoverLimits: true }, ['DescribeStreamSummary']],
    [{}, []],
  ]) {
    const transport = scripted((action) =>
      action === 'ListShards' || action === 'DescribeStreamSummary'
        ? errorAnswer(400, 'AccessDeniedException', 'denied')
        : undefined,
    );
    await withComponent(transport, (api) => {
      const kn = new api.KinesisBatchDispatcher('s', local(opts));
      kn.submitPayload(event(1, 1), { partitionKey: 'k' });
      assert.equal(Number(kn.flushPayloads().sent), 1);
      const control = transport.calls.filter((a) => a !== 'PutRecords').sort();
      assert.deepEqual(control, expected, JSON.stringify(opts));
    })();
  }
});

const failing = scripted((action) =>
  action === 'PutRecord' ? errorAnswer(500, 'InternalFailure', 'internal service failure') : undefined,
);

test(
  'a put-record that is never stored is record-failed with the Kinesis code and its attempts',
  withComponent(failing, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', local({ maxAttempts: 3, retryBaseDelayMs: 1, retryMaxDelayMs: 5 }));
    const e = errorOf(() => kn.putRecord(new Uint8Array([1, 2, 3]), { partitionKey: 'k' }));
    assert.equal(e.code, 'record-failed');
    assert.equal(e.errorCode, 'InternalFailure');
    assert.equal(e.attempts, 3);
    assert.match(e.message, /internal service failure/);
    assert.ok(!e.message.includes(CREDENTIALS.secretAccessKey));
    assert.deepEqual(failing.calls, ['PutRecord', 'PutRecord', 'PutRecord']);
    // Without options (a random key) it is sent all the same.
    assert.equal(errorOf(() => kn.putRecord(new Uint8Array([4]))).code, 'record-failed');
    assert.equal(failing.calls.length, 6);
  }),
);
