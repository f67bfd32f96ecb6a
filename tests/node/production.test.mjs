// The production-readiness features against kinesalite: failures that stream out (onFailed,
// failedCount), failing fast on a missing stream, unawaited bad submits, close() and
// Symbol.asyncDispose, and the endpoint from AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KinesisBatchDispatcher, KinesisBatchError } from '../../pkg/node.js';
import { readAllRecords, startKinesalite } from '../support/servers.mjs';
import { LOCAL_CREDENTIALS, PKG_NODE, recordingFetch, runChild } from './helpers.mjs';

let kl;
before(async () => {
  kl = await startKinesalite({ streams: { prod: 2, env: 1 } });
});
after(async () => {
  await kl?.stop();
});

const dispatcher = (stream, options = {}) =>
  new KinesisBatchDispatcher(stream, {
    endpoint: kl.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    ...options,
  });

test('a missing stream fails fast: at most maxInFlight requests, and failures stream to onFailed', async () => {
  const fetch = recordingFetch();
  const streamed = [];
  const kn = dispatcher('NoSuchStream', {
    fetch,
    maxBatchSize: 10,
    maxInFlight: 2,
    partitionKeyIdentifier: 'id',
    onFailed: (failures) => streamed.push(...failures),
  });
  for (let i = 0; i < 1000; i++) await kn.submitPayload({ id: `ff-${i}` });
  const report = await kn.flushPayloads();
  assert.deepEqual([report.sent, report.failed.length, report.failedCount], [0, 0, 1000]);
  assert.equal(streamed.length, 1000, 'every failure went to onFailed');
  assert.ok(fetch.log.length <= 3, `${fetch.log.length} requests: maxInFlight, then the flush's probe`);
  assert.equal(new Set(streamed.map((f) => f.payload.id)).size, 1000, 'each with the payload that was submitted, once');
  for (const f of streamed) {
    assert.equal(f.errorCode, 'ResourceNotFoundException');
    assert.match(f.errorMessage, /^stream NoSuchStream in us-east-1 at http:\/\/127\.0\.0\.1:\d+\/: /);
  }
});

test('without onFailed the report lists the failures, and failedCount counts them', async () => {
  const kn = dispatcher('NoSuchStream', { partitionKeyIdentifier: 'id' });
  for (let i = 0; i < 5; i++) await kn.submitPayload({ id: `fl-${i}` });
  const report = await kn.flushPayloads();
  assert.deepEqual([report.failed.length, report.failedCount], [5, 5]);
});

test('an unawaited bad submit between good ones crashes nothing and loses no record', async () => {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const kn = dispatcher('prod', { partitionKeyIdentifier: 'id' });
    kn.submitPayload({ id: 'ua-1' });
    kn.submitPayload({ noId: true }); // refused, and nobody awaits it: the boto3 habit
    kn.submitPayload({ id: 'ua-2' });
    const late = kn.submitPayload({ id: '' }); // awaited later: still rejects
    kn.submitPayload({ id: 'ua-3' });
    await assert.rejects(late, (e) => e instanceof KinesisBatchError && e.code === 'InvalidPartitionKey');
    const report = await kn.flushPayloads();
    assert.deepEqual([report.sent, report.failedCount], [3, 0]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
    const keys = (await readAllRecords({ endpoint: kl.endpoint, stream: 'prod' })).map((r) => r.partitionKey);
    for (const key of ['ua-1', 'ua-2', 'ua-3']) assert.ok(keys.includes(key), key);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('close() flushes and refuses later submits with Closed; await using closes too', async () => {
  const kn = dispatcher('prod', { partitionKeyIdentifier: 'id' });
  await kn.submitPayload({ id: 'cl-1' });
  const report = await kn.close();
  assert.equal(report.sent, 1);
  await assert.rejects(kn.submitPayload({ id: 'cl-2' }), (e) => e instanceof KinesisBatchError && e.code === 'Closed');
  // `await using` is Symbol.asyncDispose: the same close.
  const other = dispatcher('prod', { partitionKeyIdentifier: 'id' });
  await other.submitPayload({ id: 'cl-3' });
  const dispose = other[Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')];
  assert.equal(typeof dispose, 'function');
  assert.equal((await dispose.call(other)).sent, 1);
  await assert.rejects(other.submitPayload({ id: 'cl-4' }), (e) => e.code === 'Closed');
});

test('the endpoint comes from AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL; the option wins', async () => {
  const code = `
    import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_NODE)};
    const kn = new KinesisBatchDispatcher('env', { partitionKeyIdentifier: 'id', ...JSON.parse(process.env.OPTIONS) });
    await kn.submitPayload({ id: 'env-' + process.env.TAG });
    const report = await kn.flushPayloads();
    console.log(JSON.stringify({ endpoint: kn.endpoint, sent: report.sent }));
  `;
  const base = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
  const unused = 'http://127.0.0.1:9/';
  const kinesis = await runChild(code, {
    env: { ...base, AWS_ENDPOINT_URL_KINESIS: kl.endpoint, AWS_ENDPOINT_URL: unused, OPTIONS: '{}', TAG: 'k' },
  });
  assert.deepEqual(kinesis, { endpoint: `${kl.endpoint}/`, sent: 1 });
  const general = await runChild(code, { env: { ...base, AWS_ENDPOINT_URL: kl.endpoint, OPTIONS: '{}', TAG: 'g' } });
  assert.deepEqual(general, { endpoint: `${kl.endpoint}/`, sent: 1 });
  const option = await runChild(code, {
    env: { ...base, AWS_ENDPOINT_URL_KINESIS: unused, OPTIONS: JSON.stringify({ endpoint: kl.endpoint }), TAG: 'o' },
  });
  assert.deepEqual(option, { endpoint: `${kl.endpoint}/`, sent: 1 });
});
