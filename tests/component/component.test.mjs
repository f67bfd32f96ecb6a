// The component's exports through the jco host, in process. The transport here is a plain
// synchronous function that answers like Kinesis: no network, so each behaviour is exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { errorOf, loadComponent, TransportFailure, withComponent } from './host.mjs';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SECRET = 'component-test-secret-key';
const CREDENTIALS = { accessKeyId: 'AKIDCOMPONENTUNIT', secretAccessKey: SECRET };
const json = (value) => ({ tag: 'json', val: JSON.stringify(value) });

/** A transport that answers PutRecords like Kinesis, `answer(request, n)` overriding. */
function scripted(answer = () => undefined) {
  const calls = [];
  const fetch = (url, init) => {
    const headers = Object.fromEntries(init.headers);
    const body = JSON.parse(Buffer.from(init.body).toString('utf8'));
    const call = { url, init, headers, body };
    calls.push(call);
    const custom = answer(call, calls.length - 1);
    if (custom) return custom;
    return ok(body.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })));
  };
  return { calls, fetch };
}

function ok(records) {
  const failed = records.filter((r) => r.ErrorCode).length;
  return {
    status: 200,
    headers: [['content-type', 'application/x-amz-json-1.1']],
    body: Buffer.from(JSON.stringify({ FailedRecordCount: failed, Records: records })),
  };
}

function errorAnswer(status, type, message, headers = []) {
  return {
    status,
    headers: [['x-amzn-errortype', type], ...headers],
    body: Buffer.from(JSON.stringify({ __type: type, message })),
  };
}

const options = (extra = {}) => ({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: CREDENTIALS,
  ...extra,
});

test(
  'hash-key-of and shard-index-for match MD5 and the even split',
  withComponent(null, (api) => {
    assert.equal(api.hashKeyOf('pk-1'), '273922656776327812788301823748127981641');
    for (const key of ['a', 'pk-1', 'é😀', 'x'.repeat(256)]) {
      const hash = BigInt('0x' + createHash('md5').update(key, 'utf8').digest('hex'));
      assert.equal(api.hashKeyOf(key), hash.toString());
      for (const shards of [1, 3, 4, 16]) {
        // CreateStream's even split: shard i starts at i * floor(2^128 / n).
        const step = (1n << 128n) / BigInt(shards);
        const expected = Math.min(Number(hash / step), shards - 1);
        assert.equal(api.shardIndexFor(key, shards), expected, `${key} among ${shards}`);
      }
    }
    const e = errorOf(() => api.shardIndexFor('k', 0));
    assert.equal(e.code, 'invalid-option');
    assert.equal(e.option, 'shardCount');
  }),
);

test(
  'plan-batches packs by count and bytes and lists refusals by index',
  withComponent(null, (api) => {
    const payloads = [];
    for (let i = 0; i < 1203; i++) payloads.push(json({ id: `k${i}`, i }));
    payloads[5] = { tag: 'json', val: '{"id": "broken' };
    payloads[6] = json({ other: 1 });
    payloads[7] = { tag: 'bytes', val: new Uint8Array(3) };
    payloads[8] = json({ id: 'big', pad: 'x'.repeat(2000) });
    payloads[9] = json({ id: null });
    payloads[10] = json({ id: 42 });
    const plan = api.planBatches(payloads, { partitionKeyIdentifier: 'id', maxBatchSize: 500, maxRecordBytes: 1000 });
    assert.deepEqual(
      plan.rejected.map((r) => [r.index, r.code]),
      [
        [5, 'unserializable-payload'],
        [6, 'missing-partition-key'],
        [7, 'missing-partition-key'],
        [8, 'record-too-large'],
        [9, 'invalid-partition-key'],
      ],
    );
    assert.deepEqual(
      plan.batches.map((b) => b.records),
      [500, 500, 198],
    );
    const first = plan.batches[0];
    assert.equal(first.partitionKeys[9 - 4], '42', 'a number field is its JSON text');
    const expectedBytes = first.indices.reduce(
      (sum, i) =>
        sum + Buffer.byteLength(payloads[i].val) + Buffer.byteLength(first.partitionKeys[first.indices.indexOf(i)]),
      0,
    );
    assert.equal(Number(first.bytes), expectedBytes, 'bytes = data + key UTF-8');
    const bad = errorOf(() => api.planBatches([], { maxBatchSize: 501 }));
    assert.deepEqual([bad.code, bad.option], ['invalid-option', 'maxBatchSize']);
  }),
);

test(
  'the constructor refuses bad options with invalid-option and the option name',
  withComponent(null, (api) => {
    const cases = [
      ['bad stream name!', options(), 'stream'],
      ['s', options({ maxBatchSize: 501 }), 'maxBatchSize'],
      ['s', options({ maxAttempts: 0 }), 'maxAttempts'],
      ['s', options({ credentials: { accessKeyId: '', secretAccessKey: 'x' } }), 'credentials'],
      ['s', options({ endpoint: 'ftp://x' }), 'endpoint'],
    ];
    for (const [stream, opts, option] of cases) {
      const e = errorOf(() => new api.KinesisBatchDispatcher(stream, opts));
      assert.equal(e.code, 'invalid-option', JSON.stringify(opts));
      assert.equal(e.option, option);
      assert.ok(!e.message.includes(SECRET));
    }
    // No credentials option is no error: the credentials import provides them, when needed.
    const kn = new api.KinesisBatchDispatcher('s', options({ credentials: undefined }));
    assert.equal(kn.region(), 'us-east-1');
  }),
);

test('invalid records are refused with their code, nothing is sent, and the dispatcher keeps working', () => {
  const t = scripted();
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', options({ maxRecordBytes: 100 }));
    const refusals = [
      [json({ a: 1 }), { partitionKey: 'k'.repeat(257) }, 'invalid-partition-key'],
      [json({ a: 1 }), { partitionKey: '' }, 'invalid-partition-key'],
      [json({ a: 1 }), { explicitHashKey: '01' }, 'invalid-explicit-hash-key'],
      [json({ a: 1 }), { explicitHashKey: (1n << 128n).toString() }, 'invalid-explicit-hash-key'],
      [{ tag: 'text', val: 'x'.repeat(100) }, { partitionKey: 'k' }, 'record-too-large'],
      [{ tag: 'json', val: '{' }, undefined, 'unserializable-payload'],
    ];
    for (const [payload, opts, code] of refusals)
      assert.equal(errorOf(() => kn.submitPayload(payload, opts)).code, code);
    assert.equal(Number(kn.progress().accepted), 0);
    kn.submitPayload({ tag: 'text', val: 'fine' }, { partitionKey: 'k', explicitHashKey: '42' });
    const report = kn.flushPayloads();
    assert.equal(Number(report.sent), 1);
    assert.deepEqual(t.calls[0].body.Records, [
      { Data: Buffer.from('fine').toString('base64'), PartitionKey: 'k', ExplicitHashKey: '42' },
    ]);
  })();
});

test('requests are signed with WASI time, default keys are WASI-random UUIDv4s, full batches go out on submit', () => {
  const t = scripted();
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('orders', options({ maxBatchSize: 10 }));
    const before = Date.now();
    for (let i = 0; i < 25; i++) kn.submitPayload(json({ i }));
    assert.equal(t.calls.length, 2, 'two full batches sent during submit');
    const report = kn.flushPayloads();
    assert.deepEqual([Number(report.sent), Number(report.requests), report.failed], [25, 3, []]);
    const keys = t.calls.flatMap((c) => c.body.Records.map((r) => r.PartitionKey));
    assert.ok(
      keys.every((k) => UUID_V4.test(k)),
      keys[0],
    );
    assert.equal(new Set(keys).size, 25);
    const call = t.calls[0];
    assert.equal(call.url, 'http://127.0.0.1:9/');
    assert.equal(call.init.method, 'POST');
    assert.equal(call.headers['x-amz-target'], 'Kinesis_20131202.PutRecords');
    assert.equal(call.init.timeoutMs, 30000);
    assert.match(
      call.headers.authorization,
      /^AWS4-HMAC-SHA256 Credential=AKIDCOMPONENTUNIT\/\d{8}\/us-east-1\/kinesis\/aws4_request, SignedHeaders=[a-z;-]+, Signature=[0-9a-f]{64}$/,
    );
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(call.headers['x-amz-date']);
    const signedAt = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    assert.ok(Math.abs(signedAt - before) < 5000, `signed at ${call.headers['x-amz-date']}`);
    assert.equal(call.body.StreamName, 'orders');
  })();
});

test('only the failed records are retried, within the same flush after a backoff', () => {
  const t = scripted(({ body }, n) => {
    if (n === 0)
      return ok(
        body.Records.map((_r, i) =>
          i % 2
            ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' }
            : { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
        ),
      );
    return undefined;
  });
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', options({ retryBaseDelayMs: 200, retryMaxDelayMs: 200 }));
    for (let i = 0; i < 6; i++) kn.submitPayload({ tag: 'text', val: `v${i}` }, { partitionKey: `k${i}` });
    const report = kn.flushPayloads();
    assert.deepEqual([Number(report.sent), Number(report.retries), Number(report.requests)], [6, 3, 2]);
    assert.deepEqual(
      t.calls[1].body.Records.map((r) => r.PartitionKey),
      ['k1', 'k3', 'k5'],
    );
  })();
});

test('final failures come back in the report with the submitted payload, and secrets never show', () => {
  const t = scripted(() => {
    throw new TransportFailure({ tag: 'network', val: `ECONNRESET while sending ${SECRET}` });
  });
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher(
      's',
      options({ maxAttempts: 3, retryBaseDelayMs: 1, retryMaxDelayMs: 2 }),
    );
    const bytes = new Uint8Array([1, 2, 3]);
    kn.submitPayload({ tag: 'bytes', val: bytes }, { partitionKey: 'pk' });
    const report = kn.flushPayloads();
    assert.equal(t.calls.length, 3);
    assert.equal(Number(report.sent), 0);
    assert.equal(report.failed.length, 1);
    const [f] = report.failed;
    assert.deepEqual(
      [f.payload.tag, [...f.payload.val], f.partitionKey, f.errorCode, f.attempts],
      ['bytes', [1, 2, 3], 'pk', 'NetworkError', 3],
    );
    assert.ok(!f.errorMessage.includes(SECRET), f.errorMessage);
    assert.match(f.errorMessage, /ECONNRESET/);
    // A timeout is retried the same way and named as such.
    const timeouts = scripted(() => {
      throw new TransportFailure({ tag: 'timeout' });
    });
    const { dispatcher, close } = loadComponent({ fetch: timeouts.fetch });
    const kn2 = new dispatcher.KinesisBatchDispatcher(
      's',
      options({ maxAttempts: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 1, requestTimeoutMs: 1234 }),
    );
    kn2.submitPayload(json({ a: 1 }));
    const r2 = kn2.flushPayloads();
    // The host enforces timeout-ms; its timeout is retried and reported as a Timeout.
    assert.deepEqual(
      [r2.failed[0].errorCode, r2.failed[0].errorMessage, r2.failed[0].attempts, timeouts.calls.length],
      ['Timeout', 'no answer within 1234 ms (http://127.0.0.1:9/)', 2, 2], // the message names the endpoint
    );
    assert.equal(timeouts.calls[0].init.timeoutMs, 1234);
    return close();
  })();
});

test('a clock-skew answer moves the signing clock to the server Date header', () => {
  const serverNow = Date.now() + 3600_000;
  const t = scripted((_call, n) => {
    if (n === 0)
      return errorAnswer(
        400,
        'InvalidSignatureException',
        'Signature expired: 20260101T000000Z is now earlier than ...',
        [['Date', new Date(serverNow).toUTCString()]],
      );
    return undefined;
  });
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', options());
    kn.submitPayload(json({ a: 1 }));
    const report = kn.flushPayloads();
    assert.equal(Number(report.sent), 1);
    assert.equal(t.calls.length, 2);
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(t.calls[1].headers['x-amz-date']);
    const signedAt = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    assert.ok(Math.abs(signedAt - serverNow) < 5000, `re-signed at ${t.calls[1].headers['x-amz-date']}`);
  })();
});

test('a final request error fails the batch with its code; reports cover only their own flush', () => {
  const t = scripted((_call, n) =>
    // A final error about the records, not the stream (a missing stream fails fast instead).
    n === 0 ? errorAnswer(400, 'com.amazonaws#InvalidArgumentException', 'Records are not valid') : undefined,
  );
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', options());
    kn.submitPayload(json({ a: 1 }));
    kn.submitPayload(json({ a: 2 }));
    const first = kn.flushPayloads();
    assert.deepEqual(
      first.failed.map((f) => [f.errorCode, f.attempts, f.payload.val]),
      [
        ['InvalidArgumentException', 1, '{"a":1}'],
        ['InvalidArgumentException', 1, '{"a":2}'],
      ],
    );
    kn.submitPayload(json({ a: 3 }));
    const second = kn.flushPayloads();
    assert.deepEqual([Number(second.sent), second.failed.length, Number(second.requests)], [1, 0, 1]);
    const p = kn.progress();
    assert.deepEqual([p.accepted, p.sent, p.failed].map(Number), [3, 1, 2]);
  })();
});

const EXPIRED = () =>
  errorAnswer(400, 'ExpiredTokenException', 'The security token included in the request is expired');

/** The access key id a request was signed with. */
const signedBy = (call) => /Credential=([A-Z0-9]+)\//.exec(call.headers.authorization)?.[1];

test('set-credentials replaces the static credentials from the next request on; empty keys are refused', () => {
  const t = scripted(() => undefined);
  let imported = 0;
  const credentials = () => {
    imported++;
    return { accessKeyId: 'AKIDIMPORTED', secretAccessKey: 'imported-secret' };
  };
  return withComponent(
    t,
    (api) => {
      const kn = new api.KinesisBatchDispatcher('s', options());
      kn.submitPayload(json({ a: 1 }));
      kn.flushPayloads();
      const e = errorOf(() => kn.setCredentials({ accessKeyId: 'AKIDNEW', secretAccessKey: '' }));
      assert.deepEqual([e.code, e.option], ['invalid-option', 'credentials']);
      kn.setCredentials({ accessKeyId: 'AKIDROTATED', secretAccessKey: 'rotated-secret', sessionToken: 'tok' });
      kn.submitPayload(json({ a: 2 }));
      const report = kn.flushPayloads();
      assert.deepEqual([Number(report.sent), Number(report.retries), report.failed], [1, 0, []]);
      assert.deepEqual(t.calls.map(signedBy), ['AKIDCOMPONENTUNIT', 'AKIDROTATED']);
      assert.equal(t.calls[0].headers['x-amz-security-token'], undefined);
      assert.equal(t.calls[1].headers['x-amz-security-token'], 'tok');
      assert.equal(imported, 0, 'static credentials: the import is never called');
    },
    { credentials },
  )();
});

test('without the credentials option the import provides them and is called again after an ExpiredTokenException', () => {
  const t = scripted((_call, n) => (n === 1 || n === 3 ? EXPIRED() : undefined));
  const issued = [];
  const credentials = () => {
    const n = issued.length + 1;
    const c = { accessKeyId: `AKIDIMPORT${n}`, secretAccessKey: `${SECRET}-${n}`, sessionToken: `token-${n}` };
    issued.push(c);
    return c;
  };
  return withComponent(
    t,
    (api) => {
      const kn = new api.KinesisBatchDispatcher('s', options({ credentials: undefined }));
      assert.equal(issued.length, 0, 'not called before a request is signed');
      kn.submitPayload(json({ a: 1 }));
      const first = kn.flushPayloads();
      assert.deepEqual([Number(first.sent), issued.length], [1, 1]);
      kn.submitPayload(json({ a: 2 }));
      const second = kn.flushPayloads();
      assert.deepEqual([Number(second.sent), Number(second.retries), second.failed], [1, 1, []]);
      assert.equal(issued.length, 2, 'called again after the ExpiredTokenException answer');
      assert.deepEqual(t.calls.map(signedBy), ['AKIDIMPORT1', 'AKIDIMPORT1', 'AKIDIMPORT2']);
      assert.deepEqual(
        t.calls.map((c) => c.headers['x-amz-security-token']),
        ['token-1', 'token-1', 'token-2'],
      );
      // set-credentials takes over from the import, from the next request on.
      kn.setCredentials({ accessKeyId: 'AKIDSET', secretAccessKey: 'set-secret' });
      kn.submitPayload(json({ a: 3 }));
      assert.equal(Number(kn.flushPayloads().sent), 1);
      // The script answers this request ExpiredTokenException: the retry asks again and gets
      // the set credentials, not the import's.
      assert.deepEqual(t.calls.slice(3).map(signedBy), ['AKIDSET', 'AKIDSET']);
      assert.equal(issued.length, 2, 'the import is not called once credentials are set');
    },
    { credentials },
  )();
});

test('credentials near their expiration are asked for again before the next request', () => {
  const t = scripted();
  const issued = [];
  const credentials = () => {
    issued.push(Date.now());
    // Within the 5-minute refresh margin from the start.
    return { accessKeyId: `AKIDEXPIRING${issued.length}`, secretAccessKey: 'x', expiration: Date.now() + 60_000 };
  };
  return withComponent(
    t,
    async (api) => {
      const kn = new api.KinesisBatchDispatcher('s', options({ credentials: undefined }));
      kn.submitPayload(json({ a: 1 }));
      kn.flushPayloads();
      // The engine asks at most once a second for credentials that keep expiring soon.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      kn.submitPayload(json({ a: 2 }));
      kn.flushPayloads();
      assert.deepEqual(t.calls.map(signedBy), ['AKIDEXPIRING1', 'AKIDEXPIRING2']);
      assert.equal(issued.length, 2);
    },
    { credentials },
  )();
});

test('when the credentials import keeps failing, the waiting records end with CredentialsUnavailable', () => {
  const t = scripted();
  let calls = 0;
  let failing = true;
  const credentials = () => {
    calls++;
    if (failing) throw new Error('instance metadata unreachable');
    return { accessKeyId: 'AKIDLATER', secretAccessKey: 'later-secret' };
  };
  return withComponent(
    t,
    (api) => {
      const kn = new api.KinesisBatchDispatcher(
        's',
        options({ credentials: undefined, maxAttempts: 3, retryBaseDelayMs: 1, retryMaxDelayMs: 2 }),
      );
      kn.submitPayload(json({ a: 1 }), { partitionKey: 'pk' });
      const report = kn.flushPayloads();
      assert.equal(t.calls.length, 0, 'nothing was sent unsigned');
      assert.equal(calls, 3, 'asked max-attempts times');
      assert.deepEqual(
        report.failed.map((f) => [f.errorCode, f.partitionKey, f.payload.val]),
        [['CredentialsUnavailable', 'pk', '{"a":1}']],
      );
      assert.match(report.failed[0].errorMessage, /instance metadata unreachable/);
      // The next record asks again.
      failing = false;
      kn.submitPayload(json({ a: 2 }));
      assert.equal(Number(kn.flushPayloads().sent), 1);
      assert.equal(signedBy(t.calls[0]), 'AKIDLATER');
    },
    { credentials },
  )();
});

test('submit-payload sends early and waits while more than max-buffered-bytes are buffered', () => {
  const t = scripted();
  return withComponent(t, (api) => {
    const kn = new api.KinesisBatchDispatcher('s', options({ maxBufferedBytes: 100n }));
    for (let i = 0; i < 10; i++) {
      kn.submitPayload({ tag: 'text', val: 'x'.repeat(30) }, { partitionKey: `k${i}` }); // 32 bytes each
      assert.ok(
        Number(kn.progress().bufferedBytes) <= 100,
        `after record ${i}: ${kn.progress().bufferedBytes} bytes buffered`,
      );
    }
    assert.ok(t.calls.length >= 2, `${t.calls.length} requests before the flush`);
    const report = kn.flushPayloads();
    assert.equal(Number(kn.progress().sent), 10);
    assert.equal(Number(report.sent), 10);
  })();
});
