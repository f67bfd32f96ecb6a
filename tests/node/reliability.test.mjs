// Delivery under faults (issue 3), end to end against kinesis-local, through the fault proxy where
// a fault is needed: credentials refresh and provider failure, request timeouts, abort signals,
// flow control (maxInFlight, maxBufferedBytes, maxBufferedTimeMs and process exit), attempt
// budgets, and a scan of everything the suite saw for secrets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KinesisBatchDispatcher, KinesisBatchError } from '../../pkg/node.js';
import { startKinesisLocal, readAllRecords } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { FAKE_CREDENTIALS, instrumentedFetch, secretScanner, secretsOf } from '../chaos.mjs';

const PKG_URL = new URL('../../pkg/node.js', import.meta.url).href;
const scanner = secretScanner();
const STREAMS = [
  'expired',
  'far',
  'near',
  'past',
  'provfail',
  'provexpired',
  'provkeep',
  'timeout',
  'abort',
  'abortflush',
  'inflight',
  'buffer',
  'linger',
  'exitlinger',
  'exitflush',
  'exitretry',
  'attempts',
  'secrets',
];
let kl;

before(async () => {
  kl = await startKinesisLocal({ streams: Object.fromEntries(STREAMS.map((s) => [s, 1])) });
});
after(async () => {
  await kl?.stop();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

async function until(condition, what, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function gate() {
  let open;
  const opened = new Promise((resolve) => (open = resolve));
  return { opened, open };
}

/** Credentials that differ per call, so a test can tell which call signed a request. */
function rotated(n) {
  const c = {
    accessKeyId: `AKIAFAKEKBROTATE${String(n).padStart(4, '0')}`,
    secretAccessKey: `fAkE/rotatedSecret+${n}/Kq9wLm3Np7Rs1Tv5Xz8`,
    sessionToken: `FwoFAKErotatedSessionToken${n}//Qm9vYmFyYmF6`,
  };
  scanner.addSecrets(secretsOf(c));
  return c;
}

function dispatcher(stream, endpoint, options = {}) {
  return new KinesisBatchDispatcher(stream, {
    endpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    partitionKeyIdentifier: 'id',
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 200,
    onProgress: (p) => scanner.add('onProgress', p),
    ...options,
  });
}

/** Flushes and hands the report to the secret scan. */
async function flush(kn, options) {
  return scanner.add('report', await kn.flushPayloads(options));
}

async function stored(stream) {
  const records = await readAllRecords({ endpoint: kl.endpoint, stream });
  return records.map((r) => JSON.parse(r.data.toString('utf8')).id);
}

const sorted = (xs) => [...xs].sort();

async function withProxy(decide, fn) {
  const proxy = await startFaultProxy({ target: kl.endpoint, decide });
  try {
    return await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

// ---- credentials ---------------------------------------------------------------------------

test('credentials: ExpiredTokenException makes the dispatcher ask the provider again and re-sign the batch', async () => {
  let calls = 0;
  const issued = [];
  const provider = async () => {
    calls++;
    issued.push(rotated(calls));
    return issued.at(-1);
  };
  const expired = {
    type: 'error',
    status: 400,
    code: 'ExpiredTokenException',
    message: 'The security token included in the request is expired',
  };
  await withProxy(
    ({ index }) => (index === 0 ? expired : undefined),
    async (proxy) => {
      const { fetch, stats } = instrumentedFetch();
      const kn = dispatcher('expired', proxy.endpoint, { credentials: provider, fetch });
      const ids = range(20).map((i) => `exp-${i}`);
      for (const id of ids) await kn.submitPayload({ id });
      const report = await flush(kn);
      assert.equal(calls, 2, 'asked once to start and once after the ExpiredTokenException');
      assert.deepEqual(
        proxy.requests.map((r) => r.fault),
        ['error', 'pass'],
      );
      assert.deepEqual(
        stats.accessKeyIds,
        [issued[0].accessKeyId, issued[1].accessKeyId],
        'the retry is signed with the new key',
      );
      assert.deepEqual(
        { sent: report.sent, failed: report.failed, requests: report.requests, retries: report.retries },
        { sent: 20, failed: [], requests: 2, retries: 20 },
      );
      assert.deepEqual(sorted(await stored('expired')), sorted(ids));
    },
  );
});

/** Three flushes 1.2 s apart, with a synchronous provider whose credentials expire in `expiresInMs`. */
async function expirationRun(stream, expiresInMs) {
  let calls = 0;
  const issued = [];
  const provider = () => {
    calls++;
    // A dispatcher that spun on expired credentials would call this without end: stop it here.
    if (calls > 50) throw new Error('provider called in a loop');
    issued.push({
      ...rotated(100 * calls + expiresInMs.toString().length),
      expiration: new Date(Date.now() + expiresInMs),
    });
    return issued.at(-1);
  };
  const { fetch, stats } = instrumentedFetch();
  const kn = dispatcher(stream, kl.endpoint, { credentials: provider, fetch });
  const ids = [];
  for (let f = 0; f < 3; f++) {
    if (f) await sleep(1200);
    for (let i = 0; i < 5; i++) {
      ids.push(`${stream}-${f}-${i}`);
      await kn.submitPayload({ id: ids.at(-1) });
    }
    const report = await flush(kn);
    assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 5, failed: [] });
  }
  assert.deepEqual(sorted(await stored(stream)), sorted(ids));
  return { calls, issued, keys: stats.accessKeyIds };
}

test('credentials: far from expiration the provider is asked once', { timeout: 60_000 }, async () => {
  const { calls, issued, keys } = await expirationRun('far', 60 * 60_000);
  assert.equal(calls, 1);
  assert.deepEqual(keys, Array(3).fill(issued[0].accessKeyId));
});

test('credentials: near expiration the provider is asked again before signing', { timeout: 60_000 }, async () => {
  const { calls, issued, keys } = await expirationRun('near', 60_000); // inside the 5-minute margin
  assert.ok(calls >= 3 && calls <= 6, `asked before each flush's signing, not in a loop: ${calls} calls`);
  assert.equal(keys.length, 3);
  assert.equal(new Set(keys).size, 3, 'each flush signed with credentials fetched for it');
  assert.equal(keys.at(-1), issued.at(-1).accessKeyId);
});

test('credentials: an expiration already past is asked again too, and delivery does not spin on it', {
  timeout: 60_000,
}, async () => {
  const { calls, keys } = await expirationRun('past', -1000);
  assert.ok(calls >= 3 && calls <= 6, `${calls} calls`);
  assert.equal(new Set(keys).size, 3);
});

test('credentials: a failing provider is retried, then the waiting records come back with their payloads; the dispatcher keeps working', {
  timeout: 60_000,
}, async () => {
  let calls = 0;
  let healthy = false;
  const provider = async () => {
    calls++;
    if (!healthy) throw new Error('instance metadata service unreachable');
    return FAKE_CREDENTIALS;
  };
  const kn = dispatcher('provfail', kl.endpoint, { credentials: provider, maxAttempts: 3 });
  const first = range(10).map((i) => ({ id: `pf-${i}`, n: i }));
  for (const p of first) await kn.submitPayload(p);
  const report = await flush(kn);
  assert.equal(calls, 3, 'the provider is tried maxAttempts times');
  assert.equal(report.sent, 0);
  assert.equal(report.requests, 0, 'nothing was sent unsigned');
  assert.equal(report.failed.length, 10);
  report.failed.forEach((f, i) => {
    assert.equal(f.errorCode, 'CredentialsUnavailable');
    assert.match(
      f.errorMessage,
      /credentials provider failed \(3 tries\): Error: instance metadata service unreachable/,
    );
    assert.equal(f.payload, first[i], 'the submitted value itself');
    assert.equal(f.partitionKey, `pf-${i}`);
    assert.equal(f.attempts, 0);
  });
  assert.equal(kn.progress.accepted, kn.progress.sent + kn.progress.failed);

  healthy = true;
  const second = range(10).map((i) => ({ id: `pf-ok-${i}` }));
  for (const p of second) await kn.submitPayload(p);
  const again = await flush(kn);
  assert.deepEqual({ sent: again.sent, failed: again.failed }, { sent: 10, failed: [] });
  assert.equal(calls, 4, 'the next records made it ask again');
  assert.deepEqual(sorted(await stored('provfail')), sorted(second.map((p) => p.id)));

  // A provider answering nonsense is a failure too, with a clear message.
  const bad = dispatcher('provfail', kl.endpoint, {
    credentials: () => ({ accessKeyId: 'AKIAONLYTHEKEYID0000' }),
    maxAttempts: 1,
  });
  await bad.submitPayload({ id: 'pf-bad' });
  const badReport = await flush(bad);
  assert.equal(badReport.failed.length, 1);
  assert.equal(badReport.failed[0].errorCode, 'CredentialsUnavailable');
  assert.match(badReport.failed[0].errorMessage, /accessKeyId and secretAccessKey must be non-empty strings/);
});

test('credentials: a provider failing after ExpiredTokenException fails that batch (scrubbed), and the dispatcher recovers', {
  timeout: 60_000,
}, async () => {
  let calls = 0;
  let healthy = true;
  const first = rotated(900);
  const provider = () => {
    calls++;
    if (calls === 1) return first;
    // A provider error that quotes the token it refused: it must not reach the report.
    if (!healthy) throw new Error(`STS refused to renew session ${first.sessionToken} for ${first.accessKeyId}`);
    return FAKE_CREDENTIALS;
  };
  const expired = {
    type: 'error',
    status: 400,
    code: 'ExpiredTokenException',
    message: 'The security token included in the request is expired',
  };
  await withProxy(
    ({ index }) => (index === 0 ? expired : undefined),
    async (proxy) => {
      const kn = dispatcher('provexpired', proxy.endpoint, { credentials: provider, maxAttempts: 2 });
      healthy = false;
      const payloads = range(8).map((i) => ({ id: `pe-${i}` }));
      for (const p of payloads) await kn.submitPayload(p);
      const report = await flush(kn);
      assert.equal(calls, 3, 'one good call, then maxAttempts failing calls');
      assert.equal(report.sent, 0);
      assert.deepEqual(
        report.failed.map((f) => [f.errorCode, f.attempts]),
        Array(8).fill(['CredentialsUnavailable', 1]),
      );
      assert.deepEqual(
        report.failed.map((f) => f.payload),
        payloads,
      );
      assert.match(report.failed[0].errorMessage, /STS refused to renew session \[redacted\] for \[redacted\]/);

      healthy = true;
      await kn.submitPayload({ id: 'pe-after' });
      const again = await flush(kn);
      assert.deepEqual({ sent: again.sent, failed: again.failed }, { sent: 1, failed: [] });
      assert.deepEqual(await stored('provexpired'), ['pe-after']);
    },
  );
});

test('credentials: when refreshing near-expiry credentials fails, the still-valid ones keep signing', {
  timeout: 60_000,
}, async () => {
  let calls = 0;
  const first = { ...rotated(901), expiration: new Date(Date.now() + 120_000) };
  const provider = () => {
    calls++;
    if (calls === 1) return first;
    throw new Error('throttled by the credentials endpoint');
  };
  const { fetch, stats } = instrumentedFetch();
  const kn = dispatcher('provkeep', kl.endpoint, { credentials: provider, fetch, maxAttempts: 2 });
  await kn.submitPayload({ id: 'pk-1' });
  assert.equal((await flush(kn)).sent, 1);
  await sleep(1200);
  await kn.submitPayload({ id: 'pk-2' });
  const report = await flush(kn);
  assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 1, failed: [] });
  assert.equal(calls, 3, 'asked again near expiration (2 failing tries)');
  assert.deepEqual(stats.accessKeyIds, [first.accessKeyId, first.accessKeyId]);
  assert.deepEqual(sorted(await stored('provkeep')), ['pk-1', 'pk-2']);
});

// ---- timeouts and abort ----------------------------------------------------------------------

test('requestTimeoutMs aborts a stuck request; the batch is retried and delivered', { timeout: 60_000 }, async () => {
  await withProxy(
    ({ index }) => (index === 0 ? { type: 'delay', ms: 4000 } : undefined),
    async (proxy) => {
      const kn = dispatcher('timeout', proxy.endpoint, { requestTimeoutMs: 600 });
      const ids = range(10).map((i) => `to-${i}`);
      for (const id of ids) await kn.submitPayload({ id });
      const started = Date.now();
      const report = await flush(kn);
      const elapsed = Date.now() - started;
      assert.deepEqual(
        { sent: report.sent, failed: report.failed, requests: report.requests, retries: report.retries },
        { sent: 10, failed: [], requests: 2, retries: 10 },
      );
      assert.ok(elapsed < 3500, `did not wait for the 4 s answer (${elapsed} ms)`);
      assert.equal(proxy.stats.delay, 1);
      // The stuck request was written before its answer was held: the retry duplicates exactly it.
      await until(() => proxy.stats.delayRecords === 10, 'the held answer');
      const ids2 = await stored('timeout');
      assert.equal(ids2.length, 20);
      assert.deepEqual(sorted(new Set(ids2)), sorted(ids));
      assert.equal(ids2.length - new Set(ids2).size, proxy.stats.ambiguousRecords);
    },
  );
  // With no budget left, the timeout is the record's final code.
  await withProxy(
    () => ({ type: 'delay', ms: 3000 }),
    async (proxy) => {
      const kn = dispatcher('timeout', proxy.endpoint, { requestTimeoutMs: 300, maxAttempts: 1 });
      const payload = { id: 'to-final', nested: { a: [1, 2] } };
      await kn.submitPayload(payload);
      const report = await flush(kn);
      assert.equal(report.failed.length, 1);
      const [f] = report.failed;
      assert.deepEqual([f.errorCode, f.attempts, f.payload], ['Timeout', 1, payload]);
      assert.match(f.errorMessage, /no answer within 300 ms/);
    },
  );
});

test('the signal option stops work: acknowledged records count as sent, the rest fail with Aborted', {
  timeout: 60_000,
}, async () => {
  const held = gate();
  // The first batch goes through; later ones hang until the gate opens, then are dropped unwritten.
  const decide = async ({ index }) => {
    if (index === 0) return undefined;
    await held.opened;
    return { type: 'resetBefore' };
  };
  await withProxy(decide, async (proxy) => {
    const controller = new AbortController();
    const kn = dispatcher('abort', proxy.endpoint, { signal: controller.signal, maxBatchSize: 10 });
    const payloads = range(25).map((i) => ({ id: `ab-${i}` }));
    for (const p of payloads) await kn.submitPayload(p);
    await until(() => kn.progress.sent === 10 && proxy.requests.length === 2, 'one batch acknowledged, one in flight');
    controller.abort(new Error('shutting down'));
    const report = await flush(kn);
    assert.equal(report.sent, 10);
    assert.equal(report.failed.length, 15);
    assert.ok(report.failed.every((f) => f.errorCode === 'Aborted' && /shutting down/.test(f.errorMessage)));
    assert.deepEqual(sorted(report.failed.map((f) => f.payload.id)), sorted(payloads.slice(10).map((p) => p.id)));
    assert.ok(
      report.failed.every((f) => payloads.includes(f.payload)),
      'the submitted values themselves',
    );
    assert.equal(report.sent + report.failed.length, kn.progress.accepted);
    const late = await kn.submitPayload({ id: 'ab-late' }).then(
      () => null,
      (e) => scanner.add('error', e),
    );
    assert.ok(late instanceof KinesisBatchError && late.code === 'Aborted', 'submitting after abort is refused');
    held.open();
    assert.deepEqual(sorted(await stored('abort')), sorted(payloads.slice(0, 10).map((p) => p.id)));
  });
});

test('flushPayloads({ signal }) stops that flush with Aborted records; the dispatcher keeps working', {
  timeout: 60_000,
}, async () => {
  const held = gate();
  const decide = async ({ index }) => {
    if (index !== 0) return undefined;
    await held.opened;
    return { type: 'resetBefore' };
  };
  await withProxy(decide, async (proxy) => {
    const kn = dispatcher('abortflush', proxy.endpoint);
    const stuck = range(6).map((i) => ({ id: `af-${i}` }));
    for (const p of stuck) await kn.submitPayload(p);
    const controller = new AbortController();
    const pending = flush(kn, { signal: controller.signal });
    await until(() => proxy.requests.length === 1, 'the request at the proxy');
    const abortedAt = Date.now();
    controller.abort();
    const report = await pending;
    assert.ok(Date.now() - abortedAt < 1000, 'the flush ends at once, without waiting for the answer');
    assert.deepEqual(
      report.failed.map((f) => [f.errorCode, f.payload]),
      stuck.map((p) => ['Aborted', p]),
    );
    assert.equal(report.sent, 0);

    // An already-aborted signal: pending records fail, nothing is sent.
    const early = range(3).map((i) => ({ id: `af-early-${i}` }));
    for (const p of early) await kn.submitPayload(p);
    const none = await flush(kn, { signal: AbortSignal.abort() });
    assert.deepEqual(
      none.failed.map((f) => [f.errorCode, f.payload]),
      early.map((p) => ['Aborted', p]),
    );
    assert.equal(none.requests, 0);

    // The dispatcher was not closed by a flush's signal.
    const later = range(4).map((i) => ({ id: `af-ok-${i}` }));
    for (const p of later) await kn.submitPayload(p);
    const ok = await flush(kn);
    assert.deepEqual({ sent: ok.sent, failed: ok.failed }, { sent: 4, failed: [] });
    assert.equal(kn.progress.accepted, 13);
    assert.equal(kn.progress.sent + kn.progress.failed, 13);
    held.open();
    assert.deepEqual(sorted(await stored('abortflush')), sorted(later.map((p) => p.id)));
  });
});

// ---- flow control -----------------------------------------------------------------------------

test('maxInFlight limits concurrent requests, measured at the proxy', { timeout: 60_000 }, async () => {
  let current = 0;
  let peak = 0;
  const decide = async () => {
    current++;
    peak = Math.max(peak, current);
    await sleep(150);
    current--;
  };
  await withProxy(decide, async (proxy) => {
    const ids = [];
    for (const maxInFlight of [1, 3]) {
      peak = 0;
      const kn = dispatcher('inflight', proxy.endpoint, { maxInFlight, maxBatchSize: 10 });
      for (let i = 0; i < 60; i++) {
        ids.push(`if-${maxInFlight}-${i}`);
        await kn.submitPayload({ id: ids.at(-1) });
      }
      const report = await flush(kn);
      assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: 60, failed: [] });
      assert.equal(peak, maxInFlight, `at most ${maxInFlight} at once, and the limit is used`);
    }
    assert.deepEqual(sorted(await stored('inflight')), sorted(ids));
  });
});

test('submitPayload waits while buffered bytes exceed maxBufferedBytes, and resumes once below', {
  timeout: 60_000,
}, async () => {
  const held = gate();
  await withProxy(
    async () => {
      await held.opened;
    },
    async (proxy) => {
      const limit = 2000;
      const kn = dispatcher('buffer', proxy.endpoint, { maxBatchSize: 5, maxBufferedBytes: limit, maxInFlight: 2 });
      const ids = [];
      let blocked;
      for (let i = 0; i < 100 && !blocked; i++) {
        ids.push(`bf-${String(i).padStart(3, '0')}`);
        const p = kn.submitPayload({ id: ids.at(-1), pad: 'y'.repeat(80) });
        const done = await Promise.race([p.then(() => true), sleep(150).then(() => false)]);
        if (!done) blocked = p;
      }
      assert.ok(blocked, 'a submit blocked');
      assert.ok(kn.progress.bufferedBytes > limit, `buffered ${kn.progress.bufferedBytes} > ${limit}`);
      assert.ok(kn.progress.bufferedBytes - limit < 200, 'it blocked on the record that crossed the limit');
      assert.equal(kn.progress.accepted, ids.length, 'that record is accepted; the submit only waits');
      let resolved = false;
      let bufferedAtResolve;
      blocked.then(() => {
        resolved = true;
        bufferedAtResolve = kn.progress.bufferedBytes;
      });
      await sleep(500);
      assert.equal(resolved, false, 'still waiting while nothing settles');
      assert.equal(proxy.requests.length, 2, 'maxInFlight requests held at the proxy');
      held.open();
      await blocked;
      assert.ok(bufferedAtResolve <= limit, `resolved with ${bufferedAtResolve} buffered`);
      const report = await flush(kn);
      assert.deepEqual({ sent: report.sent, failed: report.failed }, { sent: ids.length, failed: [] });
      assert.deepEqual(sorted(await stored('buffer')), sorted(ids));
    },
  );
});

test('maxBufferedTimeMs sends a partial batch once its oldest record has waited that long', {
  timeout: 60_000,
}, async () => {
  await withProxy(undefined, async (proxy) => {
    const kn = dispatcher('linger', proxy.endpoint, { maxBufferedTimeMs: 500 });
    const started = Date.now();
    for (const id of ['lg-1', 'lg-2', 'lg-3']) await kn.submitPayload({ id });
    await sleep(250);
    assert.equal(proxy.requests.length, 0, 'not before the time is up');
    await until(() => proxy.requests.length === 1, 'the partial batch');
    const waited = Date.now() - started;
    assert.ok(waited >= 490, `sent after ${waited} ms`);
    assert.equal(proxy.requests[0].recordCount, 3);
    await until(() => kn.progress.sent === 3, 'the acknowledgement');
    const report = await flush(kn);
    assert.deepEqual(
      { sent: report.sent, failed: report.failed, requests: report.requests },
      { sent: 3, failed: [], requests: 1 },
    );
    assert.deepEqual(sorted(await stored('linger')), ['lg-1', 'lg-2', 'lg-3']);
  });
});

/** Runs a script in a child Node with the fake credentials in its environment. */
async function runChild(name, source, env) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kb-reliability-'));
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, source);
  const childEnv = { ...process.env };
  for (const k of Object.keys(childEnv)) if (k.startsWith('AWS_')) delete childEnv[k];
  Object.assign(childEnv, {
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: FAKE_CREDENTIALS.sessionToken,
    AWS_REGION: 'us-east-1',
    ...env,
  });
  const started = Date.now();
  const child = spawn(process.execPath, [file], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? signal)));
  clearTimeout(killer);
  rmSync(dir, { recursive: true, force: true });
  scanner.add('child stdout', stdout);
  scanner.add('child stderr', stderr);
  return { code, stdout, stderr, ms: Date.now() - started };
}

test('the maxBufferedTimeMs timer does not keep Node alive: records never flushed are not sent', {
  timeout: 60_000,
}, async () => {
  await withProxy(undefined, async (proxy) => {
    const { code, stdout, stderr, ms } = await runChild(
      'linger-exit',
      `
      import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_URL)};
      const kn = new KinesisBatchDispatcher('exitlinger', { endpoint: process.env.ENDPOINT, maxBufferedTimeMs: 60000, partitionKeyIdentifier: 'id' });
      await kn.submitPayload({ id: 'left-behind' });
      console.log('submitted ' + JSON.stringify(kn.progress));
    `,
      { ENDPOINT: proxy.endpoint },
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /submitted \{"accepted":1,"sent":0/);
    assert.ok(ms < 10_000, `exited after ${ms} ms, not after the 60 s timer`);
    assert.equal(proxy.requests.length, 0, 'documented: a record never flushed is not sent');
    assert.deepEqual(await stored('exitlinger'), []);
  });
});

test('flushing on beforeExit delivers what is left, and the process still exits', { timeout: 60_000 }, async () => {
  await withProxy(undefined, async (proxy) => {
    const { code, stdout, stderr, ms } = await runChild(
      'flush-exit',
      `
      import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_URL)};
      const kn = new KinesisBatchDispatcher('exitflush', { endpoint: process.env.ENDPOINT, maxBufferedTimeMs: 60000, partitionKeyIdentifier: 'id' });
      process.once('beforeExit', async () => console.log('report ' + JSON.stringify(await kn.flushPayloads())));
      await kn.submitPayload({ id: 'flushed-at-exit' });
    `,
      { ENDPOINT: proxy.endpoint },
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /report \{"sent":1,"requests":1,"retries":0,"failedCount":0,"failed":\[\]\}/);
    assert.ok(ms < 10_000, `exited after ${ms} ms`);
    assert.deepEqual(await stored('exitflush'), ['flushed-at-exit']);
  });
});

test('a waiting flush keeps Node alive through a retry backoff armed before it', { timeout: 60_000 }, async () => {
  await withProxy(
    ({ index }) => (index === 0 ? { type: 'status', status: 500 } : undefined),
    async (proxy) => {
      const { code, stdout, stderr } = await runChild(
        'flush-backoff',
        `
      import { KinesisBatchDispatcher } from ${JSON.stringify(PKG_URL)};
      const kn = new KinesisBatchDispatcher('exitretry', { endpoint: process.env.ENDPOINT, maxBatchSize: 1, retryBaseDelayMs: 3000, retryMaxDelayMs: 3000, partitionKeyIdentifier: 'id' });
      await kn.submitPayload({ id: 'retried' }); // a full batch: sent in the background, answered 500
      while (kn.progress.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      console.log('backing off ' + JSON.stringify(kn.progress));
      console.log('report ' + JSON.stringify(await kn.flushPayloads()));
    `,
        { ENDPOINT: proxy.endpoint },
      );
      assert.equal(code, 0, `exit code ${code} (13 means the flush was abandoned): ${stderr}`);
      assert.match(stdout, /backing off \{"accepted":1,"sent":0,"failed":0,"inFlight":0/);
      assert.match(stdout, /report \{"sent":1,"requests":2,"retries":1,"failedCount":0,"failed":\[\]\}/);
      assert.deepEqual(await stored('exitretry'), ['retried']);
    },
  );
});

// ---- attempt budgets --------------------------------------------------------------------------

test('maxAttempts 1 with forced failures: every record comes back in failed with its payload and code', {
  timeout: 60_000,
}, async () => {
  const allRecords =
    (code) =>
    ({ records }) => ({ type: 'failRecords', indices: records.map((_, i) => i), code });
  const cases = [
    [
      'ProvisionedThroughputExceededException',
      allRecords('ProvisionedThroughputExceededException'),
      /Rate exceeded for shard/,
    ],
    ['InternalFailure', allRecords('InternalFailure'), /Internal service failure/],
    ['InternalFailure', () => ({ type: 'status', status: 500 }), /injected/],
    ['ThrottlingException', () => ({ type: 'throttle' }), /Rate exceeded/],
    ['NetworkError', () => ({ type: 'resetBefore' }), /./],
  ];
  for (const [code, decide, message] of cases) {
    await withProxy(decide, async (proxy) => {
      // No identifier: keys are random, and every payload kind is accepted.
      const kn = dispatcher('attempts', proxy.endpoint, {
        maxAttempts: 1,
        maxBatchSize: 7,
        partitionKeyIdentifier: undefined,
      });
      const payloads = [
        { order: 1, items: ['a', 'b'], nested: { deep: [1, { x: null }] } },
        [1, 'two', { three: 3 }],
        'plain text ✓',
        42,
        true,
        new Uint8Array([0, 1, 2, 255]),
        new Uint8Array([9, 8, 7]).buffer,
        ...range(13).map((i) => ({ seq: i, text: 'é'.repeat(i) })),
      ];
      for (const p of payloads) await kn.submitPayload(p);
      const report = await flush(kn);
      assert.equal(report.sent, 0);
      assert.equal(report.failed.length, payloads.length, code);
      const seen = new Set();
      for (const f of report.failed) {
        const i = payloads.indexOf(f.payload);
        assert.ok(i >= 0 && !seen.has(i), 'each submitted value comes back once, as itself');
        seen.add(i);
        assert.equal(f.errorCode, code);
        assert.match(f.errorMessage, message);
        assert.equal(f.attempts, 1);
        assert.match(f.partitionKey, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      }
      assert.deepEqual(
        report.failed.map((f) => f.payload).sort((a, b) => payloads.indexOf(a) - payloads.indexOf(b)),
        payloads,
      );
      assert.equal(report.requests, 3, 'one try per batch, no retries');
      assert.equal(report.retries, 0);
      assert.equal(proxy.stats.putRecordsRequests, 3);
    });
  }
  assert.deepEqual(await stored('attempts'), [], 'no forced failure wrote anything');

  // A budget of 3 under permanent throttling: three tries each, then the last code.
  await withProxy(allRecords('ProvisionedThroughputExceededException'), async (proxy) => {
    const kn = dispatcher('attempts', proxy.endpoint, { maxAttempts: 3 });
    const payloads = range(12).map((i) => ({ id: `ma-${i}` }));
    for (const p of payloads) await kn.submitPayload(p);
    const report = await flush(kn);
    assert.deepEqual(
      report.failed.map((f) => [f.payload, f.errorCode, f.attempts]),
      payloads.map((p) => [p, 'ProvisionedThroughputExceededException', 3]),
    );
    assert.equal(report.retries, 24);
    assert.equal(proxy.stats.failedRecords.ProvisionedThroughputExceededException, 36);
  });
});

// ---- secrets ----------------------------------------------------------------------------------

test('secrets a server echoes back are scrubbed from failed records', { timeout: 60_000 }, async () => {
  const { accessKeyId, secretAccessKey, sessionToken } = FAKE_CREDENTIALS;
  const leaky = `User ${accessKeyId} (token ${sessionToken}, secret ${secretAccessKey}) is not authorized to perform kinesis:PutRecords`;
  // Two runs: an AccessDeniedException fails the stream fast, which would also end records
  // waiting to retry a 503, so each kind of answer gets its own dispatcher.
  const runs = [
    { type: 'error', status: 400, code: 'AccessDeniedException', message: leaky },
    { type: 'error', status: 503, code: 'ServiceUnavailable', message: `retry later, ${accessKeyId}` },
  ];
  const failed = [];
  for (const answer of runs) {
    await withProxy(
      () => answer,
      async (proxy) => {
        const { fetch, stats } = instrumentedFetch();
        const kn = dispatcher('secrets', proxy.endpoint, { fetch, maxAttempts: 2, maxBatchSize: 3 });
        for (const i of range(3)) await kn.submitPayload({ id: `sc-${answer.status}-${i}` });
        const report = await flush(kn);
        assert.ok(
          stats.accessKeyIds.every((k) => k === accessKeyId) && stats.accessKeyIds.length >= 1,
          'the fake key really signed the requests',
        );
        failed.push(...report.failed);
      },
    );
  }
  assert.equal(failed.length, 6);
  const denied = failed.filter((f) => f.errorCode === 'AccessDeniedException');
  const unavailable = failed.filter((f) => f.errorCode === 'ServiceUnavailable');
  assert.deepEqual([denied.length, unavailable.length], [3, 3], JSON.stringify(failed.map((f) => f.errorCode)));
  for (const f of denied) {
    assert.equal(f.attempts, 1, 'final at once');
    // A stream-level error says which stream, region and endpoint; the secrets are redacted.
    assert.match(
      f.errorMessage,
      /^stream secrets in us-east-1 at http:\/\/127\.0\.0\.1:\d+\/: User \[redacted\] \(token \[redacted\], secret \[redacted\]\) is not authorized to perform kinesis:PutRecords$/,
    );
  }
  for (const f of unavailable) {
    assert.equal(f.attempts, 2);
    assert.equal(f.errorMessage, 'retry later, [redacted]');
  }
  // Bad credentials options never quote the values given.
  for (const credentials of [
    { accessKeyId, secretAccessKey: '' },
    { accessKeyId, secretAccessKey, sessionToken: 42 },
    { accessKeyId: 7, secretAccessKey },
  ]) {
    const error = (() => {
      try {
        dispatcher('secrets', kl.endpoint, { credentials });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof KinesisBatchError && error.code === 'InvalidOption' && error.option === 'credentials');
    scanner.add('error', error);
  }
});

test('secret scan: no access key id, secret key or session token in any error, report, progress payload or child output', () => {
  // The scanner itself finds a planted secret (so an empty result means something).
  const probe = secretScanner();
  probe.add('probe', { message: `oops ${FAKE_CREDENTIALS.secretAccessKey}` });
  assert.equal(probe.leaks.length, 1);
  assert.ok(scanner.count >= 100, `scanned ${scanner.count} items`);
  for (const label of ['report', 'onProgress', 'error', 'child stdout', 'child stderr'])
    assert.ok(scanner.labels.get(label) > 0, label);
  assert.deepEqual(scanner.leaks, []);
});
