// The defects of the engine issue, end to end: the package against kinesalite, with the real
// fetch or a fetch wrapped to misbehave. Each test names the defect it covers; each failed (hung,
// crashed or lost records) with the JS driver that the Rust engine replaced.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KinesisBatchDispatcher, KinesisBatchError, planBatches } from '../../pkg/node.js';
import { readAllRecords, startKinesalite } from '../support/servers.mjs';
import { LOCAL_CREDENTIALS } from './helpers.mjs';

let kl;
before(async () => {
  kl = await startKinesalite({ streams: { engine: 2 } });
});
after(async () => {
  await kl?.stop();
});

const dispatcher = (options = {}) =>
  new KinesisBatchDispatcher('engine', {
    endpoint: kl.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    ...options,
  });

/** Resolves to 'timeout' if `promise` has not settled within `ms`. */
const within = (promise, ms) =>
  Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref())]);

async function storedData(marker) {
  const records = await readAllRecords({ endpoint: kl.endpoint, stream: 'engine' });
  return records.map((r) => Buffer.from(r.data).toString('utf8')).filter((d) => d.includes(marker));
}

test('defect 1: a buffer smaller than one open batch sends the batch instead of hanging', async () => {
  const kn = dispatcher({ maxBufferedBytes: 64, partitionKeyIdentifier: 'id' });
  for (let i = 0; i < 20; i++) {
    const settled = await within(kn.submitPayload({ id: `d1-${i}`, pad: 'x'.repeat(30) }), 5000);
    assert.notEqual(settled, 'timeout', `submit ${i} settles`);
  }
  const report = await kn.flushPayloads();
  assert.deepEqual([report.sent, report.failed.length], [20, 0]);
  assert.equal((await storedData('d1-')).length, 20);
});

test('defect 2: a flush settles although records keep coming from onProgress', async () => {
  let extra = 0;
  let kn;
  kn = dispatcher({
    partitionKeyIdentifier: 'id',
    maxBufferedTimeMs: 60_000,
    onProgress: () => {
      if (extra < 50) kn.submitPayload({ id: `d2-extra-${extra++}` });
    },
  });
  for (let i = 0; i < 10; i++) await kn.submitPayload({ id: `d2-${i}` });
  const first = await within(kn.flushPayloads(), 10_000);
  assert.notEqual(first, 'timeout', 'the first flush settles');
  let total = first.sent;
  for (let i = 0; i < 100 && total < 10 + extra; i++) total += (await kn.flushPayloads()).sent;
  assert.equal(total, 10 + extra, 'the records submitted during a flush are delivered by the next ones');
  assert.equal((await storedData('d2-')).length, 10 + extra);
});

test('defect 3: odd fetch results are retried transport errors, not crashes', async () => {
  const odd = [
    () => ({ status: 200 }), // no headers
    () => 'not a response',
    () => ({ status: 200, headers: new Headers(), arrayBuffer: () => Promise.reject(new Error('body broke')) }),
    () => ({
      status: 200,
      headers: {
        get: () => {
          throw new Error('headers broke');
        },
      },
      arrayBuffer: async () => new ArrayBuffer(0),
    }),
  ];
  let calls = 0;
  const kn = dispatcher({
    partitionKeyIdentifier: 'id',
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    fetch: (url, init) => {
      calls++;
      return calls <= odd.length ? odd[calls - 1]() : fetch(url, init);
    },
  });
  await kn.submitPayload({ id: 'd3-a' });
  const report = await within(kn.flushPayloads(), 10_000);
  assert.notEqual(report, 'timeout');
  assert.deepEqual([report.sent, report.failed.length, report.retries], [1, 0, 4]);
});

test('defect 4: deadlines hold when fetch ignores the abort signal or the body never ends', async () => {
  const never = new Promise(() => {});
  const behaviours = [
    () => never, // ignores the signal: never settles
    () => ({ status: 200, headers: new Headers(), arrayBuffer: () => never }), // a body that never ends
  ];
  let calls = 0;
  const kn = dispatcher({
    partitionKeyIdentifier: 'id',
    requestTimeoutMs: 300,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    fetch: (url, init) => {
      calls++;
      return calls <= behaviours.length ? behaviours[calls - 1]() : fetch(url, init);
    },
  });
  await kn.submitPayload({ id: 'd4-a' });
  const report = await within(kn.flushPayloads(), 10_000);
  assert.notEqual(report, 'timeout');
  assert.deepEqual([report.sent, report.retries], [1, 2]);
});

test('defect 5: submitPayload during submitPayloads iteration (generator, toJSON) corrupts nothing', async () => {
  const kn = dispatcher({ partitionKeyIdentifier: 'id' });
  function* events() {
    for (let i = 0; i < 30; i++) {
      kn.submitPayload({ id: `d5-inner-${i}`, text: `inner ${i} ${'y'.repeat(i)}` });
      yield { id: `d5-outer-${i}`, toJSON: () => ({ id: `d5-outer-${i}`, text: `outer ${i} ${'z'.repeat(i)}` }) };
    }
  }
  const { accepted, rejected } = await kn.submitPayloads(events());
  assert.deepEqual([accepted, rejected.length], [30, 0]);
  const report = await kn.flushPayloads();
  assert.equal(report.sent, 60);
  const stored = await storedData('d5-');
  assert.equal(stored.length, 60);
  for (const data of stored) {
    const parsed = JSON.parse(data); // every record is whole JSON, as submitted
    const [, kind, i] = /^d5-(inner|outer)-(\d+)$/.exec(parsed.id);
    assert.equal(parsed.text, `${kind} ${i} ${(kind === 'inner' ? 'y' : 'z').repeat(Number(i))}`);
  }
});

test('defect 7: keys come from the data as written, the same in planBatches and delivery', async () => {
  const lines = [
    '{"id": 12345678901234567890, "n": 1}',
    '{"id": 12345678901234567891, "n": 2}',
    '{"id": 1.0}',
    '{"id":"a\\u00e9"}',
  ];
  const plan = planBatches(lines, { partitionKeyIdentifier: 'id' });
  assert.deepEqual(plan.batches[0].partitionKeys, ['12345678901234567890', '12345678901234567891', '1.0', 'aé']);
  // A JSON string payload is keyed from its data, as bytes would be.
  const kn = dispatcher({ partitionKeyIdentifier: 'id' });
  for (const line of lines) await kn.submitPayload(line);
  await kn.submitPayload(new TextEncoder().encode('{"id": "d7-bytes"}'));
  assert.equal((await kn.flushPayloads()).sent, 5);
  const nested = dispatcher({ partitionKeyIdentifier: '/customer/id' });
  await nested.submitPayload({ customer: { id: 'd7-nested' } });
  assert.equal((await nested.flushPayloads()).sent, 1);
  const records = await readAllRecords({ endpoint: kl.endpoint, stream: 'engine' });
  const keys = new Set(records.map((r) => r.partitionKey));
  for (const key of ['12345678901234567890', '12345678901234567891', '1.0', 'aé', 'd7-bytes', 'd7-nested']) {
    assert.ok(keys.has(key), `stored under ${key}`);
  }
});

test('defect 8: a misspelt option is refused and names the option it meant', () => {
  assert.throws(
    () => dispatcher({ partitionKeyIdentifer: 'id' }),
    (e) =>
      e instanceof KinesisBatchError &&
      e.code === 'InvalidOption' &&
      e.option === 'partitionKeyIdentifer' &&
      e.message.includes('partitionKeyIdentifier'),
  );
  assert.throws(
    () => planBatches([], { maxBatchSise: 3 }),
    (e) => e.code === 'InvalidOption' && e.message.includes('maxBatchSize'),
  );
});

test('defect 9: the smaller defects', async (t) => {
  await t.test('a lone surrogate in a string payload is refused, not sent as U+FFFD', async () => {
    const kn = dispatcher();
    await assert.rejects(
      kn.submitPayload('bad \ud800 text', { partitionKey: 'k' }),
      (e) => e.code === 'UnserializablePayload',
    );
    assert.equal(kn.progress.accepted, 0);
  });
  await t.test('a SharedArrayBuffer payload is sent as its bytes', async () => {
    const kn = dispatcher();
    const shared = new SharedArrayBuffer(11);
    new Uint8Array(shared).set(new TextEncoder().encode('d9-shared!!'));
    await kn.submitPayload(shared, { partitionKey: 'd9' });
    assert.equal((await kn.flushPayloads()).sent, 1);
    assert.deepEqual(await storedData('d9-shared'), ['d9-shared!!']);
  });
  await t.test('a credentials provider that never settles does not hang this flush or later ones', async () => {
    let calls = 0;
    const kn = dispatcher({
      requestTimeoutMs: 200,
      maxAttempts: 2,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 2,
      credentials: () => (++calls <= 2 ? new Promise(() => {}) : LOCAL_CREDENTIALS),
    });
    await kn.submitPayload('{"a":1}', { partitionKey: 'k' });
    const first = await within(kn.flushPayloads(), 5000);
    assert.notEqual(first, 'timeout');
    assert.deepEqual([first.failed.length, first.failed[0].errorCode], [1, 'CredentialsUnavailable']);
    await kn.submitPayload('{"a":2}', { partitionKey: 'k' });
    const second = await within(kn.flushPayloads(), 5000);
    assert.deepEqual([second.sent, second.failed.length], [1, 0]);
  });
  await t.test('a throwing getter gives a KinesisBatchError', async () => {
    const kn = dispatcher({ partitionKeyIdentifier: 'id' });
    const payload = {
      get id() {
        throw new Error('getter broke');
      },
    };
    await assert.rejects(
      kn.submitPayload(payload),
      (e) => e instanceof KinesisBatchError && e.code === 'UnserializablePayload',
    );
    const options = {
      get partitionKey() {
        throw new Error('getter broke');
      },
    };
    await assert.rejects(kn.submitPayload('{}', options), (e) => e instanceof KinesisBatchError);
    const throwing = { region: 'us-east-1', credentials: LOCAL_CREDENTIALS };
    Object.defineProperty(throwing, 'maxInFlight', {
      enumerable: true,
      get() {
        throw new Error('getter broke');
      },
    });
    assert.throws(
      () => new KinesisBatchDispatcher('engine', throwing),
      (e) => e instanceof KinesisBatchError && e.code === 'InvalidOption' && e.option === 'maxInFlight',
    );
  });
  await t.test('a rejecting async onProgress does not crash the process or stop delivery', async () => {
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const kn = dispatcher({
        onProgress: async () => {
          throw new Error('progress broke');
        },
      });
      for (let i = 0; i < 5; i++) await kn.submitPayload(`{"i":${i}}`, { partitionKey: 'k' });
      assert.equal((await kn.flushPayloads()).sent, 5);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
