// End to end through a real component host: deliver.mjs (jco-transpiled component in Node, its
// transport a synchronous fetch on a worker thread) sends 5,000 records through the fault
// proxy to kinesis-local, with partial failures and a throttled request on the way; the test
// reads every record back from kinesis-local.
//
// The host runs as a child process because its transport blocks its thread while a request is
// out, and the fault proxy lives in this process.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKinesisLocal, readAllRecords, stopAllServers } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { recordFor } from './records.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const STREAM = 'component-e2e';
const SHARDS = 4;
const COUNT = 5000;
const SECRET = 'component-secret-never-verified'; // deliver.mjs signs with it

after(stopAllServers);

function runHost(config) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(here, 'deliver.mjs'), JSON.stringify(config)],
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`host failed: ${error.message}\n${stderr}`));
        assert.ok(!`${stdout}${stderr}`.includes(SECRET), 'the secret key never shows');
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)));
      },
    );
  });
}

/** X-Amz-Date (20261125T235548Z) → ms since the epoch. */
function amzDateMs(s) {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  assert.ok(m, `X-Amz-Date ${s}`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

test('the component delivers 5,000 records with retried partial failures, and they read back exactly', {
  timeout: 900_000,
}, async (t) => {
  const kinesis = await startKinesisLocal({ streams: { [STREAM]: SHARDS } });
  // Fresh full batch number → what the proxy does with it (retries never count as fresh).
  const faults = {
    1: { type: 'failRecords', indices: [0, 1, 2, 99, 250, 498, 499], code: 'ProvisionedThroughputExceededException' },
    4: { type: 'throttle' },
    6: { type: 'failRecords', indices: [10, 20, 30], code: 'InternalFailure' },
  };
  const keysByRequest = []; // every PutRecords request's partition keys, as received
  const faulted = {}; // fresh batch number → its keys
  const seen = new Set();
  let fresh = 0;
  const proxy = await startFaultProxy({
    target: kinesis.endpoint,
    decide({ index, records }) {
      const keys = records.map((r) => r.PartitionKey);
      keysByRequest[index] = keys;
      if (records.length !== 500 || seen.has(keys[0])) return undefined;
      seen.add(keys[0]);
      const n = fresh++;
      if (faults[n]) faulted[n] = keys;
      return faults[n];
    },
  });
  try {
    const startedAt = Date.now();
    const out = await runHost({
      endpoint: proxy.endpoint,
      stream: STREAM,
      count: COUNT,
      options: { maxBatchSize: 500, retryBaseDelayMs: 50, retryMaxDelayMs: 500 },
    });
    const { report, progress } = out;

    // Every accepted record ended once, acknowledged; nothing failed for good.
    assert.deepEqual(report.failed, []);
    assert.equal(report.sent, COUNT);
    assert.deepEqual(
      {
        accepted: progress.accepted,
        sent: progress.sent,
        failed: progress.failed,
        inFlight: progress.inFlight,
        bufferedBytes: progress.bufferedBytes,
      },
      { accepted: COUNT, sent: COUNT, failed: 0, inFlight: 0, bufferedBytes: 0 },
    );
    assert.equal(out.region, 'us-east-1');
    assert.equal(out.endpoint, `${proxy.endpoint}/`);

    // The faults happened, and each retry carried exactly the records that failed.
    assert.equal(proxy.stats.failRecords, 2);
    assert.equal(proxy.stats.throttle, 1);
    assert.equal(proxy.stats.failedRecords.ProvisionedThroughputExceededException, 7);
    assert.equal(proxy.stats.failedRecords.InternalFailure, 3);
    assert.deepEqual(Object.keys(faulted), ['1', '4', '6']);
    const retried = (n) => faults[n].indices.map((i) => faulted[n][i]).sort();
    const sameKeys = (keys) => (r) => r && r.length === keys.length && [...r].sort().every((k, j) => k === keys[j]);
    assert.ok(keysByRequest.some(sameKeys(retried(1))), 'a request carried only the 7 PTE records');
    assert.ok(keysByRequest.some(sameKeys(retried(6))), 'a request carried only the 3 InternalFailure records');
    assert.equal(
      keysByRequest.filter(sameKeys([...faulted[4]].sort())).length,
      2,
      'the throttled batch was sent again whole',
    );
    assert.equal(report.retries, 7 + 3 + 500);
    assert.equal(report.requests, proxy.stats.putRecordsRequests);
    assert.equal(out.fetchCalls, proxy.stats.putRecordsRequests);
    assert.equal(report.requests, Math.ceil(COUNT / 500) + 3);

    // Signed with the WASI wall clock: X-Amz-Date is now, not 1970.
    for (const d of out.amzDates) {
      const ms = amzDateMs(d);
      assert.ok(ms >= startedAt - 2000 && ms <= Date.now() + 2000, `X-Amz-Date ${d} is during the run`);
    }

    // Read back: every record exactly once, byte for byte, on the shard its key hashes to.
    const stored = await readAllRecords({ endpoint: kinesis.endpoint, stream: STREAM });
    assert.equal(stored.length, COUNT);
    const byKey = new Map(stored.map((r) => [r.partitionKey, r]));
    assert.equal(byKey.size, COUNT, 'no duplicates');
    const { loadComponent } = await import('./host.mjs');
    const { dispatcher, close } = loadComponent({
      fetch() {
        throw new Error('no network here');
      },
    });
    try {
      for (let i = 0; i < COUNT; i++) {
        const expected = recordFor(i);
        const got = byKey.get(expected.partitionKey);
        assert.ok(got, `record ${i} stored`);
        assert.ok(got.data.equals(expected.data), `record ${i} data`);
        const shard = dispatcher.shardIndexFor(expected.partitionKey, SHARDS);
        assert.equal(got.shardId, `shardId-${String(shard).padStart(12, '0')}`, `record ${i} shard`);
      }
    } finally {
      await close();
    }
    t.diagnostic(
      `component e2e: ${COUNT} records, ${report.requests} requests, ${report.retries} retried, host ${out.ms} ms`,
    );
  } finally {
    await proxy.stop();
    await kinesis.stop();
  }
});

test('with no credentials option the component asks its credentials import, and again after an ExpiredTokenException', {
  timeout: 300_000,
}, async () => {
  const stream = 'component-expired';
  const count = 1200;
  const kinesis = await startKinesisLocal({ streams: { [stream]: 1 } });
  const expired = {
    type: 'error',
    status: 400,
    code: 'ExpiredTokenException',
    message: 'The security token included in the request is expired',
  };
  const proxy = await startFaultProxy({
    target: kinesis.endpoint,
    decide: ({ index }) => (index === 1 ? expired : undefined),
  });
  try {
    const out = await runHost({
      endpoint: proxy.endpoint,
      stream,
      count,
      credentialsImport: true,
      options: { maxBatchSize: 500, retryBaseDelayMs: 50, retryMaxDelayMs: 500 },
    });
    assert.deepEqual(out.report.failed, []);
    assert.equal(out.report.sent, count);
    // Called once before the first request, once after the ExpiredTokenException answer.
    assert.equal(out.credentialsCalls, 2);
    assert.deepEqual(
      proxy.requests.map((r) => r.fault),
      ['pass', 'error', 'pass', 'pass'],
    );
    assert.deepEqual(out.signedBy, ['AKIDIMPORTED1', 'AKIDIMPORTED1', 'AKIDIMPORTED2', 'AKIDIMPORTED2']);
    assert.deepEqual([out.report.requests, out.report.retries], [4, 500]);
    const stored = await readAllRecords({ endpoint: kinesis.endpoint, stream });
    assert.deepEqual(
      stored.map((r) => r.partitionKey).sort(),
      [...Array(count).keys()].map((i) => recordFor(i).partitionKey).sort(),
    );
  } finally {
    await proxy.stop();
    await kinesis.stop();
  }
});
