// Self-test of the test-server infrastructure. Run from the repository root:
//   node --test tests/support/selftest.test.mjs
// Needs: (cd tests && npm ci) and the venv (python3 -m venv tests/.venv && tests/.venv/bin/pip install -r tests/requirements.txt)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  startKinesalite,
  startKinesisLocal,
  startMoto,
  readAllRecords,
  kinesisCall,
  kinesisRequest,
  signKinesisRequest,
  freePort,
  venvBin,
  stopAllServers,
} from './servers.mjs';
import { startFaultProxy, chaosDecider, mulberry32 } from './fault-proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const b64 = (s) => Buffer.from(s).toString('base64');

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

async function assertGone(pid, ms = 3000) {
  const deadline = Date.now() + ms;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) assert.fail(`pid ${pid} still alive`);
    await sleep(20);
  }
}

/** Listening sockets of a pid, from `ss` (Debian iproute2). */
function listenAddrs(pid) {
  const out = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => l.trim().split(/\s+/)[3]);
}

function makeRecords(prefix, n) {
  return Array.from({ length: n }, (_, i) => ({ Data: b64(`${prefix}-data-${i}`), PartitionKey: `${prefix}-pk-${i}` }));
}

/** Raw POST through `endpoint` with dummy auth; options.agent for keep-alive tests. */
function post({ endpoint, action, body, agent, timeoutMs = 10000 }) {
  const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const url = new URL(endpoint);
  const d = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        agent: agent ?? new http.Agent({ keepAlive: false }),
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `Kinesis_20131202.${action}`,
          'x-amz-date': d,
          authorization: `AWS4-HMAC-SHA256 Credential=AKID/${d.slice(0, 8)}/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`,
          'content-length': payload.length,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, text, json, reusedSocket: req.reusedSocket });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

async function checkPutAndRead(server, { region = 'us-east-1', credentials } = {}) {
  const records = [
    { Data: b64('hello'), PartitionKey: 'k1' },
    { Data: b64('wörld ✓'), PartitionKey: 'ключ' }, // non-ASCII data and key
    { Data: Buffer.from([0, 1, 2, 255]).toString('base64'), PartitionKey: 'k3' },
    { Data: b64('routed'), PartitionKey: 'k4', ExplicitHashKey: '0' },
  ];
  const r = await kinesisCall({
    endpoint: server.endpoint,
    action: 'PutRecords',
    body: { StreamName: 'self', Records: records },
    region,
    credentials,
  });
  assert.equal(r.FailedRecordCount, 0);
  assert.equal(r.Records.length, 4);
  for (const e of r.Records) assert.match(e.SequenceNumber, /^\d+$/);
  const got = await readAllRecords({ endpoint: server.endpoint, stream: 'self', region, credentials });
  assert.equal(got.length, 4);
  const byKey = new Map(got.map((g) => [g.partitionKey, g]));
  assert.deepEqual(byKey.get('k1').data, Buffer.from('hello'));
  assert.deepEqual(byKey.get('ключ').data, Buffer.from('wörld ✓'));
  assert.deepEqual(byKey.get('k3').data, Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(byKey.get('k4').data, Buffer.from('routed'));
  assert.equal(byKey.get('k4').shardId, 'shardId-000000000000'); // hash key 0 → first shard
  for (const g of got) {
    assert.ok(Buffer.isBuffer(g.data));
    assert.match(g.shardId, /^shardId-\d{12}$/);
    assert.equal(typeof g.sequenceNumber, 'string');
  }
  // every returned SequenceNumber is in the stream
  const seqs = new Set(got.map((g) => g.sequenceNumber));
  for (const e of r.Records) assert.ok(seqs.has(e.SequenceNumber));
}

after(stopAllServers);

describe('freePort', () => {
  test('gives distinct usable ports', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    assert.equal(new Set(ports).size, 20);
    for (const p of ports) assert.ok(p > 1024 && p < 65536);
  });
});

describe('kinesalite', () => {
  let s;
  test('starts with streams ACTIVE, on 127.0.0.1 only', async () => {
    const t0 = performance.now();
    s = await startKinesalite({ streams: { self: 2, other: 3 } });
    console.log(
      `# kinesalite ready in ${((performance.now() - t0) / 1000).toFixed(2)} s at ${s.endpoint} (pid ${s.pid})`,
    );
    assert.match(s.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const addrs = listenAddrs(s.pid);
    assert.ok(addrs.length >= 1);
    for (const a of addrs) assert.match(a, /^127\.0\.0\.1:/);
    const d = await kinesisCall({
      endpoint: s.endpoint,
      action: 'DescribeStreamSummary',
      body: { StreamName: 'other' },
    });
    assert.equal(d.StreamDescriptionSummary.OpenShardCount, 3);
    assert.equal(d.StreamDescriptionSummary.StreamStatus, 'ACTIVE');
  });
  test('PutRecords + readAllRecords', () => checkPutAndRead(s));
  test('stop() ends the process', async () => {
    await s.stop();
    await assertGone(s.pid);
    await s.stop(); // idempotent
  });
});

describe('kinesis-local', () => {
  let s;
  test('starts with streams ACTIVE, both ports on 127.0.0.1 only', async () => {
    const t0 = performance.now();
    s = await startKinesisLocal({ streams: { self: 2, other: 3 } });
    console.log(
      `# kinesis-local ready in ${((performance.now() - t0) / 1000).toFixed(2)} s at ${s.endpoint} (pid ${s.pid})`,
    );
    const addrs = listenAddrs(s.pid);
    assert.equal(addrs.length, 2); // plain + TLS
    for (const a of addrs) assert.match(a, /^127\.0\.0\.1:/);
    const d = await kinesisCall({
      endpoint: s.endpoint,
      action: 'DescribeStreamSummary',
      body: { StreamName: 'other' },
    });
    assert.equal(d.StreamDescriptionSummary.OpenShardCount, 3);
  });
  test('PutRecords + readAllRecords', () => checkPutAndRead(s));
  test('failRecords through the proxy (kinesis-local answers ErrorCode: null for successes)', async () => {
    const proxy = await startFaultProxy({
      target: s.endpoint,
      decide: () => ({ type: 'failRecords', indices: [0, 2], code: 'InternalFailure' }),
    });
    try {
      const r = await post({
        endpoint: proxy.endpoint,
        action: 'PutRecords',
        body: { StreamName: 'other', Records: makeRecords('kl', 4) },
      });
      assert.equal(r.status, 200);
      assert.equal(r.json.FailedRecordCount, 2);
      assert.deepEqual(
        r.json.Records.map((e) => e.ErrorCode ?? null),
        ['InternalFailure', null, 'InternalFailure', null],
      );
      const got = await readAllRecords({ endpoint: s.endpoint, stream: 'other' });
      assert.deepEqual(got.map((g) => g.partitionKey).sort(), ['kl-pk-1', 'kl-pk-3']);
    } finally {
      await proxy.stop();
    }
  });
  test('stop() ends the process', async () => {
    await s.stop();
    await assertGone(s.pid);
  });
});

describe('moto (auth mode)', () => {
  let s;
  const putBody = JSON.stringify({ StreamName: 'self', Records: [{ Data: b64('signed'), PartitionKey: 'sig' }] });

  test('starts; auth is enforced after setup', async () => {
    const t0 = performance.now();
    s = await startMoto({ streams: { self: 2 } });
    console.log(`# moto ready in ${((performance.now() - t0) / 1000).toFixed(2)} s at ${s.endpoint} (pid ${s.pid})`);
    assert.equal(s.region, 'us-east-1');
    assert.match(s.credentials.accessKeyId, /^AKIA/);
    assert.ok(s.credentials.secretAccessKey.length >= 20);
    for (const a of listenAddrs(s.pid)) assert.match(a, /^127\.0\.0\.1:/);
  });

  test('wrong secret → 403 SignatureDoesNotMatch (XML body)', async () => {
    const r = await kinesisRequest({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: putBody,
      credentials: { ...s.credentials, secretAccessKey: s.credentials.secretAccessKey + 'x' },
    });
    console.log(
      `# moto wrong secret: HTTP ${r.status} content-type=${r.headers['content-type']} body=${JSON.stringify(r.body)}`,
    );
    assert.equal(r.status, 403);
    assert.equal(r.errorType, 'SignatureDoesNotMatch');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(
      r.body,
      '<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>',
    );
  });

  test('unknown access key / dummy auth → 403 InvalidClientTokenId; no auth → 500', async () => {
    const r1 = await kinesisRequest({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: putBody,
      credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' },
    });
    assert.equal(r1.status, 403);
    assert.equal(r1.errorType, 'InvalidClientTokenId');
    const r2 = await kinesisRequest({ endpoint: s.endpoint, action: 'PutRecords', body: putBody }); // dummy header
    assert.equal(r2.status, 403);
    assert.equal(r2.errorType, 'InvalidClientTokenId');
    const r3 = await kinesisRequest({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: putBody,
      headers: { authorization: null, 'x-amz-date': null },
    });
    console.log(`# moto without Authorization: HTTP ${r3.status}`);
    assert.equal(r3.status, 500);
  });

  test('right secret → 200 (node:crypto signer)', async () => {
    const r = await kinesisRequest({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: putBody,
      credentials: s.credentials,
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.FailedRecordCount, 0);
  });

  test('right secret → 200 (signed by botocore from the venv), and our signer agrees byte-for-byte', async () => {
    const py = `
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
endpoint, body, ak, sk = sys.argv[1:5]
req = AWSRequest(method="POST", url=endpoint + "/", data=body.encode(), headers={
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecords"})
SigV4Auth(Credentials(ak, sk), "kinesis", "us-east-1").add_auth(req)
print(json.dumps(dict(req.headers.items())))
`;
    const out = execFileSync(
      venvBin('python'),
      ['-c', py, s.endpoint, putBody, s.credentials.accessKeyId, s.credentials.secretAccessKey],
      { encoding: 'utf8' },
    );
    const boto = JSON.parse(out);
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(boto['X-Amz-Date']);
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    const ours = signKinesisRequest({
      endpoint: s.endpoint,
      target: 'Kinesis_20131202.PutRecords',
      body: putBody,
      credentials: s.credentials,
      date,
    });
    assert.equal(ours['x-amz-date'], boto['X-Amz-Date']);
    // botocore signs content-type;host;x-amz-date;x-amz-target too
    assert.equal(ours.authorization, boto.Authorization);
    const r = await kinesisRequest({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: putBody,
      headers: { authorization: boto.Authorization, 'x-amz-date': boto['X-Amz-Date'] },
    });
    assert.equal(r.status, 200, r.body);
  });

  test('the fault proxy passes signed requests through untouched', async () => {
    const proxy = await startFaultProxy({ target: s.endpoint });
    try {
      // Signed for the proxy's host:port (the Host header is forwarded as is).
      const r = await kinesisRequest({
        endpoint: proxy.endpoint,
        action: 'PutRecords',
        body: putBody,
        credentials: s.credentials,
      });
      assert.equal(r.status, 200, r.body);
      assert.equal(proxy.requests.length, 1);
    } finally {
      await proxy.stop();
    }
  });

  test('readAllRecords with credentials', async () => {
    const got = await readAllRecords({ endpoint: s.endpoint, stream: 'self', credentials: s.credentials });
    assert.equal(got.length, 3); // node signer, botocore, via proxy
    for (const g of got) assert.deepEqual(g.data, Buffer.from('signed'));
  });

  test('PutRecords + readAllRecords (signed)', async () => {
    // fresh stream content check on another server-side stream
    await kinesisCall({
      endpoint: s.endpoint,
      action: 'CreateStream',
      body: { StreamName: 'self2', ShardCount: 2 },
      credentials: s.credentials,
    });
    const records = makeRecords('m', 5);
    const r = await kinesisCall({
      endpoint: s.endpoint,
      action: 'PutRecords',
      body: { StreamName: 'self2', Records: records },
      credentials: s.credentials,
    });
    assert.equal(r.FailedRecordCount, 0);
    const got = await readAllRecords({ endpoint: s.endpoint, stream: 'self2', credentials: s.credentials });
    assert.deepEqual(
      got.map((g) => g.data.toString()).sort(),
      records.map((x) => Buffer.from(x.Data, 'base64').toString()).sort(),
    );
  });

  test('stop() ends the process', async () => {
    await s.stop();
    await assertGone(s.pid);
  });
});

describe('fault proxy (against kinesalite)', () => {
  let k;
  let streamNo = 0;
  const newStream = async (shards = 2) => {
    const name = `fp${streamNo++}`;
    await kinesisCall({ endpoint: k.endpoint, action: 'CreateStream', body: { StreamName: name, ShardCount: shards } });
    for (;;) {
      const d = await kinesisCall({
        endpoint: k.endpoint,
        action: 'DescribeStreamSummary',
        body: { StreamName: name },
      });
      if (d.StreamDescriptionSummary.StreamStatus === 'ACTIVE') return name;
      await sleep(10);
    }
  };
  const stored = async (stream) =>
    (await readAllRecords({ endpoint: k.endpoint, stream })).map((g) => g.partitionKey).sort();
  const withProxy = async (decide, fn) => {
    const proxy = await startFaultProxy({ target: k.endpoint, decide });
    try {
      return await fn(proxy);
    } finally {
      await proxy.stop();
    }
  };

  before(async () => {
    k = await startKinesalite();
  });
  after(async () => {
    await k?.stop();
  });

  test('pass (no decide): forwarded, requests records count and bytes', async () => {
    const stream = await newStream();
    await withProxy(undefined, async (proxy) => {
      const records = [
        { Data: b64('abc'), PartitionKey: 'é' }, // 3 + 2
        { Data: Buffer.alloc(1000).toString('base64'), PartitionKey: 'k' }, // 1000 + 1
      ];
      const r = await post({
        endpoint: proxy.endpoint,
        action: 'PutRecords',
        body: { StreamName: stream, Records: records },
      });
      assert.equal(r.status, 200);
      assert.equal(r.json.FailedRecordCount, 0);
      assert.equal(proxy.requests.length, 1);
      assert.equal(proxy.requests[0].recordCount, 2);
      assert.equal(proxy.requests[0].bytes, 1006);
      assert.equal(proxy.requests[0].maxRecordBytes, 1001);
      assert.equal(proxy.stats.pass, 1);
      assert.deepEqual(await stored(stream), ['k', 'é']);
    });
  });

  test('non-PutRecords actions pass through and are not given to decide', async () => {
    const stream = await newStream(3);
    let calls = 0;
    await withProxy(
      () => {
        calls++;
        return { type: 'status', status: 500 };
      },
      async (proxy) => {
        const r = await post({ endpoint: proxy.endpoint, action: 'ListShards', body: { StreamName: stream } });
        assert.equal(r.status, 200);
        assert.equal(r.json.Shards.length, 3);
        const bad = await post({
          endpoint: proxy.endpoint,
          action: 'DescribeStreamSummary',
          body: { StreamName: 'nope' },
        });
        assert.equal(bad.status, 400);
        assert.equal(bad.json.__type, 'ResourceNotFoundException');
        assert.equal(calls, 0);
        assert.equal(proxy.requests.length, 0);
        assert.equal(proxy.stats.requests, 2);
      },
    );
  });

  test('failRecords: exactly those indices fail, only the others are stored', async () => {
    const stream = await newStream();
    const seen = [];
    await withProxy(
      (info) => {
        seen.push(info);
        return { type: 'failRecords', indices: [1, 3], code: 'ProvisionedThroughputExceededException' };
      },
      async (proxy) => {
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('f', 5) },
        });
        assert.equal(r.status, 200);
        assert.equal(r.json.FailedRecordCount, 2);
        assert.equal(r.json.Records.length, 5);
        r.json.Records.forEach((e, i) => {
          if (i === 1 || i === 3) {
            assert.equal(e.ErrorCode, 'ProvisionedThroughputExceededException');
            assert.match(e.ErrorMessage, /Rate exceeded for shard/);
            assert.equal(e.SequenceNumber, undefined);
          } else {
            assert.equal(e.ErrorCode, undefined);
            assert.match(e.SequenceNumber, /^\d+$/);
          }
        });
        assert.deepEqual(await stored(stream), ['f-pk-0', 'f-pk-2', 'f-pk-4']);
        assert.equal(seen.length, 1);
        assert.equal(seen[0].index, 0);
        assert.equal(seen[0].action, 'PutRecords');
        assert.equal(seen[0].records.length, 5);
        assert.equal(proxy.stats.failRecords, 1);
        assert.equal(proxy.stats.failedRecords.ProvisionedThroughputExceededException, 2);
        assert.equal(proxy.requests[0].recordCount, 5); // as received, before removal
      },
    );
  });

  test('failRecords with per-index codes; all failed → not forwarded', async () => {
    const stream = await newStream();
    let n = 0;
    await withProxy(
      ({ records }) =>
        n++ === 0
          ? {
              type: 'failRecords',
              indices: [0, 2],
              codes: ['InternalFailure', 'ProvisionedThroughputExceededException'],
            }
          : { type: 'failRecords', indices: records.map((_, i) => i), code: 'InternalFailure' },
      async (proxy) => {
        const r1 = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('a', 3) },
        });
        assert.deepEqual(
          r1.json.Records.map((e) => e.ErrorCode ?? null),
          ['InternalFailure', null, 'ProvisionedThroughputExceededException'],
        );
        assert.equal(r1.json.Records[0].ErrorMessage, 'Internal service failure.');
        const r2 = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('b', 3) },
        });
        assert.equal(r2.status, 200);
        assert.equal(r2.json.FailedRecordCount, 3);
        assert.deepEqual(
          r2.json.Records.map((e) => e.ErrorCode),
          ['InternalFailure', 'InternalFailure', 'InternalFailure'],
        );
        assert.deepEqual(await stored(stream), ['a-pk-1']);
        assert.deepEqual(proxy.stats.failedRecords, { ProvisionedThroughputExceededException: 1, InternalFailure: 4 });
      },
    );
  });

  test('status 500: not forwarded, exact body', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'status', status: 500 }),
      async (proxy) => {
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('s', 2) },
        });
        assert.equal(r.status, 500);
        assert.equal(r.text, '{"__type":"InternalFailure","message":"injected"}');
        assert.equal(proxy.stats.status, 1);
        assert.deepEqual(await stored(stream), []);
      },
    );
  });

  test('throttle: HTTP 400 ThrottlingException, not forwarded', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'throttle' }),
      async (proxy) => {
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('t', 2) },
        });
        assert.equal(r.status, 400);
        assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
        assert.equal(r.text, '{"__type":"ThrottlingException","message":"Rate exceeded"}');
        assert.equal(proxy.stats.throttle, 1);
        assert.deepEqual(await stored(stream), []);
      },
    );
  });

  test('error: generic envelope', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'error', status: 503, code: 'ServiceUnavailable', message: 'try later' }),
      async (proxy) => {
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('e', 1) },
        });
        assert.equal(r.status, 503);
        assert.deepEqual(r.json, { __type: 'ServiceUnavailable', message: 'try later' });
        assert.equal(proxy.stats.error, 1);
        assert.deepEqual(await stored(stream), []);
      },
    );
  });

  test('resetBefore: connection reset, nothing written', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'resetBefore' }),
      async (proxy) => {
        await assert.rejects(
          post({
            endpoint: proxy.endpoint,
            action: 'PutRecords',
            body: { StreamName: stream, Records: makeRecords('rb', 2) },
          }),
          (e) => ['ECONNRESET', 'EPIPE'].includes(e.code) || /socket hang up/.test(e.message),
        );
        assert.equal(proxy.stats.resetBefore, 1);
        assert.equal(proxy.stats.clientAborts, 0);
        assert.deepEqual(await stored(stream), []);
      },
    );
  });

  test('resetAfter: connection reset, records written (ambiguous)', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'resetAfter' }),
      async (proxy) => {
        await assert.rejects(
          post({
            endpoint: proxy.endpoint,
            action: 'PutRecords',
            body: { StreamName: stream, Records: makeRecords('ra', 3) },
          }),
          (e) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message),
        );
        assert.equal(proxy.stats.resetAfter, 1);
        assert.equal(proxy.stats.resetAfterRecords, 3);
        assert.equal(proxy.stats.ambiguousRecords, 3);
        assert.deepEqual(await stored(stream), ['ra-pk-0', 'ra-pk-1', 'ra-pk-2']);
      },
    );
  });

  test('delay: the client times out, records written; proxy survives the disconnect', async () => {
    const stream = await newStream();
    let n = 0;
    await withProxy(
      () => (n++ === 0 ? { type: 'delay', ms: 1500 } : { type: 'pass' }),
      async (proxy) => {
        const t0 = performance.now();
        await assert.rejects(
          post({
            endpoint: proxy.endpoint,
            action: 'PutRecords',
            body: { StreamName: stream, Records: makeRecords('d', 2) },
            timeoutMs: 300,
          }),
          (e) => e.code === 'CLIENT_TIMEOUT',
        );
        assert.ok(performance.now() - t0 < 1400);
        await sleep(100);
        assert.deepEqual(await stored(stream), ['d-pk-0', 'd-pk-1']);
        assert.equal(proxy.stats.delay, 1);
        assert.equal(proxy.stats.delayRecords, 2);
        assert.equal(proxy.stats.clientAborts, 1);
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('d2', 1) },
        });
        assert.equal(r.status, 200);
      },
    );
  });

  test('delay shorter than the client timeout: response arrives late but intact', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'delay', ms: 300 }),
      async (proxy) => {
        const t0 = performance.now();
        const r = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: makeRecords('dl', 1) },
        });
        assert.ok(performance.now() - t0 >= 290);
        assert.equal(r.status, 200);
        assert.equal(r.json.FailedRecordCount, 0);
      },
    );
  });

  test('keep-alive: one client connection serves many requests, also after injected errors', async () => {
    const stream = await newStream();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let i = 0;
    const kinds = [
      { type: 'pass' },
      { type: 'throttle' },
      { type: 'failRecords', indices: [0], code: 'InternalFailure' },
      { type: 'status', status: 500 },
      { type: 'pass' },
    ];
    try {
      await withProxy(
        () => kinds[i++ % kinds.length],
        async (proxy) => {
          let connections = 0;
          const results = [];
          for (let j = 0; j < 10; j++) {
            const r = await post({
              endpoint: proxy.endpoint,
              action: 'PutRecords',
              body: { StreamName: stream, Records: makeRecords(`ka${j}`, 2) },
              agent,
            });
            results.push(r.status);
            if (!r.reusedSocket) connections++;
          }
          assert.deepEqual(results, [200, 400, 200, 500, 200, 200, 400, 200, 500, 200]);
          assert.equal(connections, 1);
        },
      );
    } finally {
      agent.destroy();
    }
  });

  test('large bodies: ~6 MiB forwarded; ~10 MiB received and answered without forwarding', async () => {
    const stream = await newStream(4);
    const big = (n, size) =>
      Array.from({ length: n }, (_, i) => ({
        Data: Buffer.alloc(size, i).toString('base64'),
        PartitionKey: `big-${i}`,
      }));
    await withProxy(
      ({ index, records }) =>
        index === 0
          ? { type: 'pass' }
          : { type: 'failRecords', indices: records.map((_, i) => i), code: 'ProvisionedThroughputExceededException' },
      async (proxy) => {
        // 5 × 900 KiB = 4.4 MiB of data, ~6 MiB of JSON (kinesalite refuses bodies over 7 MiB)
        const r1 = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: big(5, 900 * 1024) },
          timeoutMs: 60000,
        });
        assert.equal(r1.status, 200, r1.text);
        assert.equal(r1.json.FailedRecordCount, 0);
        // 10 × 1 MiB of data = 10 MiB (13.3 MiB of JSON)
        const r2 = await post({
          endpoint: proxy.endpoint,
          action: 'PutRecords',
          body: { StreamName: stream, Records: big(10, 1024 * 1024 - 5) },
          timeoutMs: 60000,
        });
        assert.equal(r2.status, 200);
        assert.equal(r2.json.FailedRecordCount, 10);
        assert.equal(proxy.requests[1].bytes, 10 * 1024 * 1024);
        const got = await readAllRecords({ endpoint: k.endpoint, stream });
        assert.equal(got.length, 5);
        for (const g of got) assert.equal(g.data.length, 900 * 1024);
      },
    );
  });

  test('client disconnects mid-body and mid-wait never crash the proxy', async () => {
    const stream = await newStream();
    await withProxy(
      () => ({ type: 'delay', ms: 500 }),
      async (proxy) => {
        const url = new URL(proxy.endpoint);
        // 1. headers promise 1000 bytes, send 10, hang up
        await new Promise((resolve) => {
          const req = http.request({
            host: url.hostname,
            port: url.port,
            method: 'POST',
            path: '/',
            headers: { 'content-length': 1000, 'x-amz-target': 'Kinesis_20131202.PutRecords' },
          });
          req.on('error', () => resolve());
          req.write('{"Stream');
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 50);
        });
        // 2. garbage on the socket
        await new Promise((resolve) => {
          const sock = net.connect(Number(url.port), url.hostname);
          sock.on('error', () => {});
          sock.on('close', resolve);
          sock.resume(); // read the 400 so 'end'/'close' can happen
          sock.end('NOT HTTP\r\n\r\n');
        });
        // 3. a complete request, then hang up while the proxy holds the response
        await new Promise((resolve) => {
          const req = post({
            endpoint: proxy.endpoint,
            action: 'PutRecords',
            body: { StreamName: stream, Records: makeRecords('x', 1) },
            timeoutMs: 100,
          });
          req.catch(() => resolve());
        });
        await sleep(700);
        const r = await post({ endpoint: proxy.endpoint, action: 'ListShards', body: { StreamName: stream } });
        assert.equal(r.status, 200);
      },
    );
  });

  test('upstream down → 502, proxy keeps running', async () => {
    const deadPort = await freePort();
    const proxy = await startFaultProxy({ target: `http://127.0.0.1:${deadPort}` });
    try {
      const r = await post({
        endpoint: proxy.endpoint,
        action: 'PutRecords',
        body: { StreamName: 'x', Records: makeRecords('u', 1) },
      });
      assert.equal(r.status, 502);
      assert.equal(r.json.__type, 'ProxyUpstreamError');
      assert.equal(proxy.stats.upstreamErrors, 1);
    } finally {
      await proxy.stop();
    }
  });

  test('chaosDecider end to end: per-record outcomes match what is stored', async () => {
    const stream = await newStream(4);
    const decide = chaosDecider({ seed: 42, delayRate: 0, resetBeforeRate: 0.05, resetAfterRate: 0.05 });
    await withProxy(decide, async (proxy) => {
      const acked = [];
      for (let j = 0; j < 60; j++) {
        const recs = makeRecords(`c${j}`, 10);
        try {
          const r = await post({
            endpoint: proxy.endpoint,
            action: 'PutRecords',
            body: { StreamName: stream, Records: recs },
          });
          if (r.status === 200)
            r.json.Records.forEach((e, i) => {
              if (!e.ErrorCode) acked.push(recs[i].PartitionKey);
            });
        } catch {
          /* injected resets */
        }
      }
      const got = await stored(stream);
      const s = proxy.stats;
      // stored = acknowledged + records written behind a reset
      assert.equal(got.length, acked.length + s.resetAfterRecords);
      for (const key of acked) assert.ok(got.includes(key));
      assert.equal(s.putRecordsRequests, 60);
      assert.equal(s.pass + s.failRecords + s.status + s.throttle + s.resetBefore + s.resetAfter, 60);
      assert.ok(s.failedRecords.ProvisionedThroughputExceededException > 0);
      console.log(`# chaos stats: ${JSON.stringify(s)}`);
    });
  });
});

describe('PRNG and chaosDecider', () => {
  test('mulberry32 is deterministic and in [0,1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b()),
    );
    assert.notDeepEqual(
      xs.slice(0, 10),
      Array.from({ length: 10 }, () => c()),
    );
    for (const x of xs) assert.ok(x >= 0 && x < 1);
  });

  test('chaosDecider: same seed & index → same decision; rates roughly honoured', () => {
    const records = Array.from({ length: 100 }, () => ({ Data: '', PartitionKey: 'k' }));
    const d1 = chaosDecider({ seed: 5, delayMs: 1000 });
    const d2 = chaosDecider({ seed: 5, delayMs: 1000 });
    const counts = { pass: 0, failRecords: 0, status: 0, throttle: 0, resetBefore: 0, resetAfter: 0, delay: 0 };
    let pte = 0;
    let internal = 0;
    let perRecordTotal = 0;
    const N = 20000;
    for (let i = 0; i < N; i++) {
      const x = d1({ index: i, action: 'PutRecords', records });
      assert.deepEqual(x, d2({ index: i, action: 'PutRecords', records }));
      counts[x.type]++;
      if (x.type === 'failRecords' || x.type === 'pass') {
        perRecordTotal += records.length;
        if (x.type === 'failRecords')
          x.codes.forEach((c) => {
            if (c === 'InternalFailure') internal++;
            else pte++;
          });
      }
    }
    const near = (got, want, tol) => assert.ok(Math.abs(got - want) <= tol, `${got} vs ${want}`);
    near(counts.status / N, 0.05, 0.01);
    near(counts.throttle / N, 0.05, 0.01);
    near(counts.resetBefore / N, 0.02, 0.005);
    near(counts.resetAfter / N, 0.01, 0.004);
    near(counts.delay / N, 0.01, 0.004);
    near(pte / perRecordTotal, 0.2, 0.01);
    near(internal / perRecordTotal, 0.05, 0.005);
    assert.deepEqual(
      chaosDecider({ seed: 5, delayMs: 1000 })({ index: 3, action: 'PutRecords', records }),
      d1({ index: 3, action: 'PutRecords', records }),
    );
    assert.throws(() => chaosDecider({ seed: 1 }), /delayMs/);
  });
});

describe('lifecycle: children never outlive the test process', () => {
  // A child Node process starts servers and then ends in different ways.
  function runHolder(kinds, mode) {
    const script = `
      import { startKinesalite, startKinesisLocal, startMoto } from ${JSON.stringify(path.join(here, 'servers.mjs'))}
      const starters = { kinesalite: startKinesalite, 'kinesis-local': startKinesisLocal, moto: startMoto }
      const servers = []
      for (const k of ${JSON.stringify(kinds)}) servers.push(await starters[k]({ streams: { s: 1 } }))
      console.log(JSON.stringify(servers.map((s) => s.pid)))
      if (${JSON.stringify(mode)} === 'exit') process.exit(0)
      if (${JSON.stringify(mode)} === 'throw') throw new Error('boom')
      if (${JSON.stringify(mode)} === 'natural') { /* nothing left: the unref'd children must not keep us alive */ }
      else setInterval(() => {}, 1000)
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const pids = new Promise((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /^\[.*\]$/m.exec(out);
        if (m) resolve(JSON.parse(m[0]));
      });
      child.on('exit', () => setTimeout(() => reject(new Error(`holder exited early: ${err}`)), 50));
    });
    return { child, pids, exited };
  }

  test('SIGTERM to the test process kills all three servers', async () => {
    const h = runHolder(['kinesalite', 'kinesis-local', 'moto'], 'wait');
    const pids = await h.pids;
    for (const p of pids) assert.ok(pidAlive(p));
    h.child.kill('SIGTERM');
    const { signal } = await h.exited;
    assert.equal(signal, 'SIGTERM'); // default behaviour preserved
    for (const p of pids) await assertGone(p);
  });

  test('SIGINT, process.exit(), uncaught exception, natural end: servers die', async () => {
    for (const mode of ['sigint', 'exit', 'throw', 'natural']) {
      const h = runHolder(['kinesalite'], mode === 'sigint' ? 'wait' : mode);
      const pids = await h.pids;
      if (mode === 'sigint') h.child.kill('SIGINT');
      const r = await Promise.race([h.exited, sleep(10000).then(() => 'hung')]);
      assert.notEqual(r, 'hung', `${mode}: holder did not exit`);
      for (const p of pids) await assertGone(p);
    }
  });

  test('SIGKILL of the test process: servers exit by themselves (stdin watchdog)', async () => {
    const h = runHolder(['kinesalite', 'kinesis-local', 'moto'], 'wait');
    const pids = await h.pids;
    h.child.kill('SIGKILL');
    await h.exited;
    for (const p of pids) await assertGone(p, 5000);
  });
});

describe('no leftovers', () => {
  test('no child processes of this test process remain', async () => {
    await stopAllServers();
    await sleep(100);
    const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
    const mine = out
      .split('\n')
      .filter((l) => l.trim().split(/\s+/)[1] === String(process.pid) && !/\bps\b -eo/.test(l));
    assert.deepEqual(mine, []);
  });
});
