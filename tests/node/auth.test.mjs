// SigV4 against a server that really verifies it: moto in auth mode
// (INITIAL_NO_AUTH_ACTION_COUNT; see tests/support/README.md).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startMoto, readAllRecords } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { KinesisBatchDispatcher } from '../../pkg/node.js';
import { PKG_NODE, UUID_V4, expectedData, assertSameMultiset, recordKey, runChild } from './helpers.mjs';

const STREAM = 'authstream';

function payloads(tag, n) {
  return Array.from({ length: n }, (_, i) =>
    i % 3 === 0
      ? { tag, i, text: 'signed ✓ é 😀' }
      : i % 3 === 1
        ? `${tag} line ${i} ü`
        : Uint8Array.from({ length: 40 + i }, (_, j) => (j * 13 + i) & 255),
  );
}

describe('SigV4 against moto in auth mode', () => {
  let moto;
  const delivered = []; // (key, data) pairs that must be in the stream at the end
  before(async () => {
    moto = await startMoto({ streams: { [STREAM]: 2 } });
  });
  after(async () => {
    await moto?.stop();
  });

  test('correct credentials: every record is accepted (signature verified) and stored', async () => {
    const sent = [];
    const fetch = async (url, init) => {
      const res = await globalThis.fetch(url, init);
      sent.push(res.status);
      return res;
    };
    const kn = new KinesisBatchDispatcher(STREAM, {
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: moto.credentials,
      fetch,
      maxBatchSize: 25,
    });
    const list = payloads('good', 60);
    for (const [i, p] of list.entries()) {
      await kn.submitPayload(p, { partitionKey: `k-${i}` });
      delivered.push(recordKey(`k-${i}`, expectedData(p)));
    }
    const report = await kn.flushPayloads();
    assert.deepEqual(
      { sent: report.sent, failed: report.failed, requests: report.requests, retries: report.retries },
      { sent: 60, failed: [], requests: 3, retries: 0 },
    );
    assert.deepEqual(sent, [200, 200, 200], 'moto answered 200 to each signed request');
    const stored = await readAllRecords({ endpoint: moto.endpoint, stream: STREAM, credentials: moto.credentials });
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      delivered,
    );
  });

  test('credentials from an async provider, through a pass-through proxy (Host kept): delivered', async () => {
    const proxy = await startFaultProxy({ target: moto.endpoint });
    try {
      let calls = 0;
      const kn = new KinesisBatchDispatcher(STREAM, {
        region: moto.region,
        endpoint: proxy.endpoint,
        credentials: async () => {
          calls++;
          return { ...moto.credentials };
        },
        maxBatchSize: 10,
      });
      const list = payloads('provider', 30);
      for (const [i, p] of list.entries()) {
        await kn.submitPayload(p, { partitionKey: `p-${i}` });
        delivered.push(recordKey(`p-${i}`, expectedData(p)));
      }
      const report = await kn.flushPayloads();
      assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 30, failed: [] });
      assert.ok(calls >= 1);
      assert.equal(proxy.stats.putRecordsRequests, 3);
    } finally {
      await proxy.stop();
    }
  });

  test("wrong secret: every record ends in `failed` with the server's SignatureDoesNotMatch after 1 attempt; no secret leaks", async () => {
    const wrongSecret = 'WRONG' + randomBytes(18).toString('base64url');
    const kn = new KinesisBatchDispatcher(STREAM, {
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: { accessKeyId: moto.credentials.accessKeyId, secretAccessKey: wrongSecret },
      maxBatchSize: 10,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 5,
    });
    const list = payloads('bad', 35);
    for (const p of list) await kn.submitPayload(p);
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 0);
    assert.equal(report.failed.length, list.length);
    assert.equal(report.requests, 4, 'a final error is not retried');
    assert.equal(report.retries, 0);
    for (const f of report.failed) {
      assert.equal(f.errorCode, 'SignatureDoesNotMatch');
      assert.equal(f.attempts, 1);
      assert.match(f.errorMessage, /signature/i);
      assert.match(f.partitionKey, UUID_V4);
    }
    // `payload` is the submitted value itself, each exactly once.
    assert.deepEqual(new Set(report.failed.map((f) => f.payload)), new Set(list));

    const json = JSON.stringify(report, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));
    assert.ok(!json.includes(wrongSecret), 'the wrong secret is not in the report');
    assert.ok(!json.includes(moto.credentials.secretAccessKey), 'the real secret is not in the report');
    const progress = kn.progress;
    assert.deepEqual(
      { accepted: progress.accepted, sent: progress.sent, failed: progress.failed },
      { accepted: 35, sent: 0, failed: 35 },
    );

    // Nothing from the failed run reached the stream.
    const stored = await readAllRecords({ endpoint: moto.endpoint, stream: STREAM, credentials: moto.credentials });
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      delivered,
    );
  });

  test('unknown access key id: final InvalidClientTokenId, key id and secret not echoed', async () => {
    const bogusId = 'AKIA' + randomBytes(8).toString('hex').toUpperCase();
    const secret = 'S3cr3t' + randomBytes(12).toString('hex');
    const kn = new KinesisBatchDispatcher(STREAM, {
      region: moto.region,
      endpoint: moto.endpoint,
      credentials: { accessKeyId: bogusId, secretAccessKey: secret },
    });
    await kn.submitPayload({ x: 1 });
    await kn.submitPayload({ x: 2 });
    const report = await kn.flushPayloads();
    assert.equal(report.sent, 0);
    assert.deepEqual(
      report.failed.map((f) => [f.errorCode, f.attempts]),
      [
        ['InvalidClientTokenId', 1],
        ['InvalidClientTokenId', 1],
      ],
    );
    const json = JSON.stringify(report);
    assert.ok(!json.includes(secret));
  });

  test('credentials and region from the environment (child process): signature verified, delivered', async () => {
    const key = `env-${randomBytes(4).toString('hex')}`;
    const code = `
      import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_NODE)};
      const kn = new KinesisBatchDispatcher(${JSON.stringify(STREAM)}, { endpoint: process.env.TEST_ENDPOINT });
      for (let i = 0; i < 12; i++) await kn.submitPayload({ fromEnv: true, i }, { partitionKey: ${JSON.stringify(key)} + '-' + i });
      const report = await kn.flushPayloads();
      console.log(JSON.stringify({ region: kn.region, sent: report.sent, failed: report.failed.map((f) => f.errorCode) }));
    `;
    const out = await runChild(code, {
      env: {
        TEST_ENDPOINT: moto.endpoint,
        AWS_DEFAULT_REGION: moto.region,
        AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      },
    });
    assert.deepEqual(out, { region: 'us-east-1', sent: 12, failed: [] });
    for (let i = 0; i < 12; i++) delivered.push(recordKey(`${key}-${i}`, expectedData({ fromEnv: true, i })));
    const stored = await readAllRecords({ endpoint: moto.endpoint, stream: STREAM, credentials: moto.credentials });
    assertSameMultiset(
      stored.map((r) => recordKey(r.partitionKey, r.data)),
      delivered,
    );
  });
});
