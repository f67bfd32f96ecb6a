// Faults: the fault-injecting proxy in front of kinesis-local. Per-record throttling, 500s, HTTP 400
// ThrottlingException, connection resets before and after forwarding, slow answers; then the final
// errors. Every record must be delivered (or end in `failed` when the error is final), the report
// must add up, and retries must carry exactly the records that failed.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startKinesisLocal, readAllRecords, freePort } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { KinesisBatchDispatcher } from '../../pkg/node.js';
import { LOCAL_CREDENTIALS, countMap } from './helpers.mjs';

const STREAMS = [
  'pte',
  'status500',
  'throttle',
  'limit',
  'resetBefore',
  'resetAfter',
  'slow',
  'final',
  'budget',
  'secret',
];
const FAST_RETRY = { retryBaseDelayMs: 1, retryMaxDelayMs: 20 };
const PTE = 'ProvisionedThroughputExceededException';

/** Decision types after which the client did not see the records succeed (so retries them). */
const REQUEST_FAULTS = new Set(['status', 'throttle', 'error', 'resetBefore', 'resetAfter', 'delay']);
/** Decision types after which the target stored the (non-failed) records. */
const FORWARDS = new Set(['pass', 'resetAfter', 'delay', 'failRecords']);

describe('delivery under injected faults (kinesis-local behind the fault proxy)', () => {
  let kl;
  const route = new Map(); // stream name -> decide(ctx) for the running scenario
  let proxy;
  before(async () => {
    kl = await startKinesisLocal({
      streams: Object.fromEntries(STREAMS.map((s) => [s, 2])),
      env: { CREATE_STREAM_DURATION: '0ms' },
    });
    proxy = await startFaultProxy({
      target: kl.endpoint,
      decide: (ctx) => route.get(ctx.streamName)?.(ctx) ?? { type: 'pass' },
    });
  });
  after(async () => {
    await proxy?.stop();
    await kl?.stop();
  });

  /**
   * Sends n records to `stream` through the proxy, faults chosen by policy({ ids, seen, index }),
   * where ids are the records' numbers in the request and seen(i) how often record i came before.
   * The policy returns a proxy decision; for failRecords it may give `ids` (record numbers to fail)
   * instead of `indices`. Returns what happened, from both sides.
   */
  async function runScenario({ stream, n = 300, policy, options = {} }) {
    const log = []; // per PutRecords request: { ids, type, failedIds }
    const appearances = new Map();
    const seen = (i) => appearances.get(i) ?? 0;
    route.set(stream, ({ records }) => {
      const ids = records.map((r) => JSON.parse(Buffer.from(r.Data, 'base64').toString('utf8')).i);
      let decision = policy({ ids, seen, index: log.length }) ?? { type: 'pass' };
      let failedIds = [];
      if (decision.type === 'failRecords') {
        const chosen = new Set(decision.ids);
        const indices = [];
        const codes = [];
        ids.forEach((id, k) => {
          if (chosen.has(id)) {
            indices.push(k);
            codes.push(decision.codes?.get(id) ?? decision.code ?? PTE);
          }
        });
        failedIds = ids.filter((id) => chosen.has(id));
        decision = indices.length ? { type: 'failRecords', indices, codes } : { type: 'pass' };
      } else if (REQUEST_FAULTS.has(decision.type)) {
        failedIds = ids;
      }
      log.push({ ids, type: decision.type, failedIds, status: decision.status, code: decision.code });
      for (const i of ids) appearances.set(i, seen(i) + 1);
      return decision;
    });
    const payloads = Array.from({ length: n }, (_, i) => ({ stream, i, pad: 'é'.repeat(i % 17) }));
    const kn = new KinesisBatchDispatcher(stream, {
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      maxBatchSize: 20,
      ...FAST_RETRY,
      ...options,
    });
    for (const p of payloads) await kn.submitPayload(p);
    const report = await kn.flushPayloads();
    route.delete(stream);
    const stored = await readAllRecords({ endpoint: kl.endpoint, stream });
    const storedIds = stored.map((r) => JSON.parse(r.data.toString('utf8')).i);
    return { report, log, payloads, storedIds, progress: kn.progress };
  }

  /**
   * The accounting every scenario must satisfy.
   * - report: sent + failed = accepted, and the expected failures (default none);
   * - requests and retries as the proxy counted them;
   * - a request carries either only new records or exactly the failed records of one earlier request;
   * - an acknowledged record is never sent again, a retryable failure always is;
   * - the stream holds every record written by a forwarded request: each record exactly once,
   *   plus one duplicate per forward the client didn't see succeed (resetAfter, a late answer).
   */
  function checkAccounting(
    { report, log, payloads, storedIds, progress },
    { expectFailed = new Map(), exactWrites = true } = {},
  ) {
    const n = payloads.length;
    assert.equal(report.sent + report.failed.length, n, 'sent + failed = accepted');
    assert.equal(report.sent, n - expectFailed.size);
    assert.deepEqual(
      report.failed.map((f) => [f.payload.i, f.errorCode, f.attempts]).sort((a, b) => a[0] - b[0]),
      [...expectFailed].map(([i, [code, attempts]]) => [i, code, attempts]).sort((a, b) => a[0] - b[0]),
      'failed records: which, code, attempts',
    );
    for (const f of report.failed) assert.equal(f.payload, payloads[f.payload.i], '`payload` is the submitted value');
    assert.deepEqual(
      { accepted: progress.accepted, sent: progress.sent, failed: progress.failed, inFlight: progress.inFlight },
      { accepted: n, sent: report.sent, failed: report.failed.length, inFlight: 0 },
    );
    assert.equal(report.requests, log.length, 'report.requests = PutRecords requests received');
    const totalSends = log.reduce((a, r) => a + r.ids.length, 0);
    assert.equal(report.retries, totalSends - n, 'report.retries = records sent again');

    // Request composition: fresh, or exactly the failed records of the request they last appeared in.
    const last = new Map(); // id -> index in log of its previous appearance
    const acked = new Set();
    log.forEach((req, r) => {
      const prior = req.ids.map((i) => last.get(i));
      if (prior.every((p) => p === undefined)) {
        // a fresh batch
      } else {
        assert.ok(
          prior.every((p) => p !== undefined && p === prior[0]),
          `request ${r} mixes records from different requests`,
        );
        assert.deepEqual(
          [...req.ids].sort((a, b) => a - b),
          [...log[prior[0]].failedIds].sort((a, b) => a - b),
          `request ${r} retries exactly the failed records of request ${prior[0]}`,
        );
      }
      for (const i of req.ids) {
        assert.ok(!acked.has(i), `record ${i} was sent again after it succeeded`);
        last.set(i, r);
      }
      const failed = new Set(req.failedIds);
      for (const i of req.ids) if (!failed.has(i)) acked.add(i);
    });
    // Every record that was not acknowledged and not in `failed` was retried: so all of them are acked now.
    const failedIds = new Set(report.failed.map((f) => f.payload.i));
    for (let i = 0; i < n; i++)
      assert.ok(acked.has(i) || failedIds.has(i), `record ${i} neither acknowledged nor failed`);

    // What the stream holds.
    const writes = new Map();
    const ambiguous = new Map();
    for (const req of log) {
      if (!FORWARDS.has(req.type)) continue;
      const failed = new Set(req.type === 'failRecords' ? req.failedIds : []);
      for (const i of req.ids) {
        if (failed.has(i)) continue;
        writes.set(i, (writes.get(i) ?? 0) + 1);
        if (req.type === 'resetAfter' || req.type === 'delay') ambiguous.set(i, (ambiguous.get(i) ?? 0) + 1);
      }
    }
    const stored = countMap(storedIds);
    for (let i = 0; i < n; i++) {
      const got = stored.get(i) ?? 0;
      if (failedIds.has(i) && !writes.has(i)) {
        assert.equal(got, 0, `failed record ${i} is not in the stream`);
        continue;
      }
      assert.ok(got >= 1, `record ${i} was delivered`);
      if (exactWrites) assert.equal(got, writes.get(i), `record ${i}: stored once per forwarded write`);
      assert.ok(
        got - 1 <= (ambiguous.get(i) ?? 0),
        `record ${i}: ${got} copies, only ${ambiguous.get(i) ?? 0} ambiguous writes`,
      );
    }
    assert.equal(
      storedIds.length,
      [...stored.values()].reduce((a, b) => a + b, 0),
    );
    return { duplicates: storedIds.length - stored.size, totalSends };
  }

  /** Fault a fresh batch `times(firstId)` times in a row (then let it through). */
  const requestFaults =
    (make, times) =>
    ({ ids, seen }) =>
      seen(ids[0]) < times(Math.min(...ids)) ? make() : { type: 'pass' };
  // 15 batches of 20: batch b is faulted b % 3 times (0, 1 or 2).
  const byBatch = (firstId) => Math.floor(firstId / 20) % 3;

  test('per-record ProvisionedThroughputExceededException and InternalFailure: only the failed records are retried', async (t) => {
    const run = await runScenario({
      stream: 'pte',
      policy: ({ ids, seen }) => {
        const fail = new Set();
        const codes = new Map();
        for (const i of ids) {
          const s = seen(i);
          if (s === 0 && (i % 3 === 0 || i % 7 === 0)) {
            fail.add(i);
            codes.set(i, i % 7 === 0 ? 'InternalFailure' : PTE);
          }
          if (s === 1 && i % 9 === 0) fail.add(i); // some fail twice
          if (s === 0 && i >= 100 && i < 120) fail.add(i); // one whole batch fails (the proxy answers alone)
        }
        return { type: 'failRecords', ids: [...fail], codes };
      },
    });
    const { totalSends } = checkAccounting(run);
    assert.equal(run.storedIds.length, 300, 'no duplicates');
    assert.ok(run.report.retries > 100, `retries ${run.report.retries}`);
    assert.ok(run.log.some((r) => r.failedIds.length === r.ids.length && r.type === 'failRecords'));
    t.diagnostic(`${run.log.length} requests, ${totalSends} record sends, ${run.report.retries} retries`);
  });

  for (const [stream, make, label] of [
    ['status500', () => ({ type: 'status', status: 500 }), 'HTTP 500'],
    ['throttle', () => ({ type: 'throttle' }), 'HTTP 400 ThrottlingException'],
    [
      'limit',
      () => ({ type: 'error', status: 400, code: 'LimitExceededException', message: 'Rate exceeded for stream' }),
      'HTTP 400 LimitExceededException',
    ],
    ['resetBefore', () => ({ type: 'resetBefore' }), 'a connection reset before forwarding'],
  ]) {
    test(`${label}: the whole batch is retried and delivered exactly once`, async (t) => {
      const run = await runScenario({ stream, policy: requestFaults(make, byBatch) });
      const { totalSends } = checkAccounting(run);
      const faulted = run.log.filter((r) => r.type !== 'pass').length;
      assert.equal(faulted, 15, '5 batches faulted once, 5 twice');
      assert.equal(run.report.retries, faulted * 20);
      assert.equal(run.storedIds.length, 300, 'no duplicates');
      t.diagnostic(`${run.log.length} requests, ${totalSends} record sends`);
    });
  }

  test('a connection reset after forwarding: retried, every record delivered, duplicates only from those writes', async (t) => {
    const run = await runScenario({
      stream: 'resetAfter',
      policy: requestFaults(() => ({ type: 'resetAfter' }), byBatch),
    });
    const { duplicates } = checkAccounting(run);
    assert.equal(duplicates, 15 * 20, 'each reset-after write is stored once more');
    t.diagnostic(
      `${duplicates} duplicates from ${run.log.filter((r) => r.type === 'resetAfter').length} reset-after requests`,
    );
  });

  test('an answer slower than requestTimeoutMs: the request times out, is retried, every record delivered', async (t) => {
    // Only two batches are held back; the rest answer at kinesis-local's pace (well under 5 s).
    const run = await runScenario({
      stream: 'slow',
      n: 100,
      options: { requestTimeoutMs: 5000 },
      policy: ({ ids, seen }) =>
        seen(ids[0]) === 0 && (ids[0] === 0 || ids[0] === 40) ? { type: 'delay', ms: 7000 } : { type: 'pass' },
    });
    const { duplicates } = checkAccounting(run, { exactWrites: false });
    assert.equal(run.log.filter((r) => r.type === 'delay').length, 2);
    t.diagnostic(`${duplicates} duplicates after 2 timed-out requests`);
  });

  test('final errors end in `failed` after one attempt; the other records are delivered', async () => {
    // The 3rd batch gets InvalidArgumentException, the 5th ValidationException: both final for
    // their records only. (Errors about the whole stream, such as ResourceNotFoundException, fail
    // the dispatcher fast instead: tests/node/production.test.mjs.)
    const run = await runScenario({
      stream: 'final',
      n: 200,
      policy: ({ ids }) => {
        if (ids[0] === 40)
          return {
            type: 'error',
            status: 400,
            code: 'InvalidArgumentException',
            message: 'Record 0 is not valid.',
          };
        if (ids[0] === 80)
          return {
            type: 'error',
            status: 400,
            code: 'com.amazonaws.kinesis.v20131202#ValidationException:extra',
            message: 'not valid',
          };
        return { type: 'pass' };
      },
    });
    const expectFailed = new Map();
    for (let i = 40; i < 60; i++) expectFailed.set(i, ['InvalidArgumentException', 1]);
    for (let i = 80; i < 100; i++) expectFailed.set(i, ['ValidationException', 1]); // namespace and suffix stripped
    checkAccounting(run, { expectFailed });
    assert.equal(run.report.retries, 0);
  });

  test('a record that keeps failing ends in `failed` after maxAttempts; the rest are delivered', async () => {
    const run = await runScenario({
      stream: 'budget',
      n: 200,
      options: { maxAttempts: 3 },
      policy: ({ ids, seen }) => ({
        type: 'failRecords',
        ids: ids.filter((i) => i % 25 === 0 || (i % 25 === 1 && seen(i) < 2)),
      }),
    });
    const expectFailed = new Map();
    for (let i = 0; i < 200; i += 25) expectFailed.set(i, [PTE, 3]);
    checkAccounting(run, { expectFailed });
    // Records that failed twice made it on the third and last attempt.
    const sends = countMap(run.log.flatMap((r) => r.ids));
    for (let i = 1; i < 200; i += 25) assert.equal(sends.get(i), 3);
    for (let i = 0; i < 200; i += 25) assert.equal(sends.get(i), 3);
  });

  test('an unreachable endpoint: NetworkError after maxAttempts, every record in `failed`', async () => {
    const port = await freePort(); // nothing listens there
    const kn = new KinesisBatchDispatcher('budget', {
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 3,
      ...FAST_RETRY,
    });
    const payloads = Array.from({ length: 30 }, (_, i) => ({ i }));
    for (const p of payloads) await kn.submitPayload(p);
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 0);
    assert.equal(report.failed.length, 30);
    assert.equal(report.requests, 3);
    assert.equal(report.retries, 60);
    for (const f of report.failed) {
      assert.equal(f.errorCode, 'NetworkError');
      assert.equal(f.attempts, 3);
    }
    assert.deepEqual(
      report.failed.map((f) => f.payload),
      payloads,
    );
  });

  test('a server message that echoes the credentials is scrubbed from the report', async () => {
    const secret = 'Sx' + randomBytes(20).toString('base64url');
    const token = 'Tok' + randomBytes(24).toString('base64url');
    route.set('secret', () => ({
      type: 'error',
      status: 400,
      code: 'AccessDeniedException',
      message: `User with secret ${secret} and token ${token} is not authorized`,
    }));
    try {
      const kn = new KinesisBatchDispatcher('secret', {
        region: 'us-east-1',
        endpoint: proxy.endpoint,
        credentials: { accessKeyId: 'AKIDSCRUBTEST', secretAccessKey: secret, sessionToken: token },
      });
      await kn.submitPayload({ x: 1 });
      const report = await kn.flushPayloads();
      assert.equal(report.failed.length, 1);
      assert.equal(report.failed[0].errorCode, 'AccessDeniedException');
      assert.match(report.failed[0].errorMessage, /is not authorized/);
      const json = JSON.stringify(report);
      assert.ok(!json.includes(secret), 'secret key scrubbed');
      assert.ok(!json.includes(token), 'session token scrubbed');
    } finally {
      route.delete('secret');
    }
  });
});
