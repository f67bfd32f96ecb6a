// The ingestion Worker example (pkg/examples/worker) in workerd through miniflare 4.20260426.0:
// the tarball is installed in a fresh project next to the example's src/ and wrangler.toml,
// wrangler 4.86.0 bundles it (`deploy --dry-run`: the `workerd` export condition, the .wasm as a
// pre-compiled module), and miniflare runs that bundle with the Worker secrets as bindings.
// The Worker reaches kinesalite through the fault proxy, whose request count shows that nothing
// was sent on a 401, 413 or 415; records are read back from kinesalite. The Worker's console
// output is collected to check that delivery failures are logged (codes and counts only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import { startFaultProxy } from '../support/fault-proxy.mjs';
import { bin, check, cleanEnv, cleanup, freshProject, parsed, pkgDir, tempDir, testsDir } from './support/package.mjs';

const { Miniflare } = await import(path.join(testsDir, 'node_modules', 'miniflare', 'dist', 'src', 'index.js'));

const SECRET = 'worker-secret-value-never-returned';
const TOKEN = 'ingest-token-0123456789abcdef0123456789abcdef';
const STREAM = 'ingest';
const MIB = 1024 * 1024;
let kinesalite, proxy, mf, bundleDir;
let failing = false; // while true, the proxy answers every PutRecords with AccessDeniedException
const logs = [];

before(async () => {
  kinesalite = await startKinesalite({ streams: { [STREAM]: 4 } });
  proxy = await startFaultProxy({
    target: kinesalite.endpoint,
    decide: () =>
      failing ? { type: 'error', status: 400, code: 'AccessDeniedException', message: 'injected' } : undefined,
  });
  const example = path.join(pkgDir, 'examples', 'worker');
  const dir = await freshProject('workerd', {
    packageJson: { type: 'module' },
    files: {
      'wrangler.toml': readFileSync(path.join(example, 'wrangler.toml')),
      'src/index.js': readFileSync(path.join(example, 'src', 'index.js')),
    },
  });
  const home = tempDir('wrangler-home');
  await check(bin('wrangler'), ['deploy', '--dry-run', '--outdir', 'dist'], {
    cwd: dir,
    env: cleanEnv({
      HOME: home,
      XDG_CONFIG_HOME: home,
      WRANGLER_LOG_PATH: home,
      WRANGLER_SEND_METRICS: 'false',
      CI: '1',
      NO_COLOR: '1',
    }),
    timeoutMs: 120_000,
  });
  bundleDir = path.join(dir, 'dist');
  mf = new Miniflare(workerOptions());
  await mf.ready;
});

const SECRETS = { INGEST_TOKEN: TOKEN, AWS_ACCESS_KEY_ID: 'AKIDWORKER', AWS_SECRET_ACCESS_KEY: SECRET };

/** The bindings of wrangler.toml and the secrets; `bindings` overrides them (undefined removes one). */
function workerOptions(bindings = {}) {
  const all = {
    STREAM_NAME: STREAM,
    AWS_REGION: 'us-east-1',
    KINESIS_ENDPOINT: proxy.endpoint,
    PARTITION_KEY_FIELD: 'id',
    // Worker secrets reach the Worker as bindings like these.
    ...SECRETS,
    ...bindings,
  };
  for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
  return {
    modules: true,
    scriptPath: path.join(bundleDir, 'index.js'),
    modulesRoot: bundleDir,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-01',
    bindings: all,
    handleStructuredLogs: ({ level, message }) => {
      logs.push({ level, message });
    },
  };
}

/** Runs `fn` with the Worker restarted on other bindings, then restores the defaults. */
async function withBindings(bindings, fn) {
  await mf.setOptions(workerOptions(bindings));
  try {
    return await fn();
  } finally {
    await mf.setOptions(workerOptions());
  }
}

after(async () => {
  await mf?.dispose();
  await proxy?.stop();
  await kinesalite?.stop();
  cleanup();
});

/** POST /ingest → { status, headers, body (parsed) }. `type: null` / `token: null`: no such header. */
async function post(body, { type = 'application/x-ndjson', token = TOKEN, headers = {}, ...init } = {}) {
  const response = await mf.dispatchFetch('http://worker.test/ingest', {
    method: 'POST',
    body,
    headers: {
      ...(type === null ? {} : { 'content-type': type }),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    ...init,
  });
  const text = await response.text();
  assert.ok(!text.includes(SECRET) && !text.includes(TOKEN), 'no secret in a response');
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

const ndjson = (records) => `${records.map((x) => JSON.stringify(x)).join('\n')}\n`;

/** The records in the stream whose id starts with `prefix` (parsed). */
async function stored(prefix) {
  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: STREAM });
  return parsed(records).filter((v) => String(v.id).startsWith(prefix));
}

/** Asserts that `fn` sends no request to Kinesis and stores nothing with ids starting with `prefix`. */
async function nothingSent(prefix, fn) {
  const before = proxy.stats.requests;
  await fn();
  assert.equal(proxy.stats.requests, before, 'no request reached Kinesis');
  assert.deepEqual(await stored(prefix), []);
}

test('wrangler bundles the workerd entry with the wasm as a module', () => {
  const files = readdirSync(bundleDir);
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1);
  const js = readFileSync(path.join(bundleDir, 'index.js'), 'utf8');
  assert.match(js, new RegExp(`^import \\w+ from "\\./${wasm[0].replace('.', '\\.')}";$`, 'm'));
  assert.ok(!js.includes('readFileSync') && !js.includes('Deno.'), 'no other entry point was bundled');
});

test('happy path: 10,000 records posted in 20 requests are in the stream when the 200 comes', async () => {
  let accepted = 0;
  for (let r = 0; r < 20; r++) {
    const records = Array.from({ length: 500 }, (_, i) => ({
      id: `w-${r}-${i}`,
      n: r * 500 + i,
      at: new Date(0).toISOString(),
    }));
    const { status, body } =
      r % 2 === 0 ? await post(ndjson(records)) : await post(JSON.stringify(records), { type: 'application/json' });
    assert.equal(status, 200);
    assert.deepEqual(body, { accepted: 500, sent: 500, failed: 0, rejected: 0 });
    accepted += body.accepted;
  }
  assert.equal(accepted, 10_000);
  // The answer waited for delivery: everything is readable right away.
  const values = await stored('w-');
  assert.equal(values.length, 10_000);
  assert.deepEqual(
    values.map((v) => v.n).sort((a, b) => a - b),
    Array.from({ length: 10_000 }, (_, i) => i),
  );
});

test('happy path: records are stored as sent (text kept as is), a charset parameter and a lone JSON object', async () => {
  const big = '{"id":"t-big","n":12345678901234567890,"s":"é\\u00e9"}';
  const a = await post(`[${big} , {"id":"t-array","x":[1,{"y":"],"}]}]`, { type: 'application/json; charset=utf-8' });
  assert.deepEqual([a.status, a.body], [200, { accepted: 2, sent: 2, failed: 0, rejected: 0 }]);
  const b = await post('{\n  "id": "t-object"\n}', { type: 'application/json' });
  assert.deepEqual([b.status, b.body], [200, { accepted: 1, sent: 1, failed: 0, rejected: 0 }]);
  const c = await post('{"id":"t-crlf","n":1}\r\n\r\n{"id":"t-crlf","n":2}', {
    type: 'application/x-ndjson; charset=UTF-8',
  });
  assert.deepEqual([c.status, c.body], [200, { accepted: 2, sent: 2, failed: 0, rejected: 0 }]);

  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: STREAM });
  const texts = records.map((r) => r.data.toString('utf8')).filter((t) => t.includes('"t-'));
  assert.deepEqual(
    texts.sort(),
    [
      '{\n  "id": "t-object"\n}',
      '{"id":"t-array","x":[1,{"y":"],"}]}',
      big,
      '{"id":"t-crlf","n":1}',
      '{"id":"t-crlf","n":2}',
    ].sort(),
  );
  const keys = records.filter((r) => r.data.toString('utf8').includes('"t-')).map((r) => r.partitionKey);
  assert.deepEqual([...new Set(keys)].sort(), ['t-array', 't-big', 't-crlf', 't-object']);
});

test('401 with WWW-Authenticate: Bearer for a missing or wrong token; nothing is sent', async () => {
  const body = ndjson([{ id: 'unauth-1' }]);
  await nothingSent('unauth-', async () => {
    const missing = await post(body, { token: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="kinesis-ingest"');
    assert.deepEqual(missing.body.error, 'Unauthorized');

    const wrong = [
      { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, // same length, last character differs
      { authorization: `Bearer ${TOKEN}x` }, // longer
      { authorization: `Bearer ${TOKEN.slice(0, 8)}` }, // a prefix
      { authorization: 'Bearer ' },
      { authorization: `Basic ${btoa(`user:${TOKEN}`)}` },
      { authorization: TOKEN },
      { authorization: `Bearer ${TOKEN} ${TOKEN}` },
    ];
    for (const headers of wrong) {
      const r = await post(body, { token: null, headers });
      assert.equal(r.status, 401, headers.authorization);
      assert.match(r.headers.get('www-authenticate'), /^Bearer realm="kinesis-ingest", error="invalid_token"$/);
    }
    // Checked before the body: a large or mistyped body from a stranger is still a 401 (and
    // the Worker drops up to MAX_BODY_BYTES of it, unread, so that the client gets the answer).
    for (let i = 0; i < 5; i++) assert.equal((await post('x'.repeat(MIB), { token: 'nope' })).status, 401);
    assert.equal((await post(body, { token: 'nope', type: 'text/plain' })).status, 401);
  });
  // The scheme is case-insensitive.
  const lower = await post(ndjson([{ id: 'auth-lower' }]), {
    token: null,
    headers: { authorization: `bearer ${TOKEN}` },
  });
  assert.equal(lower.status, 200);
});

test('while rotating, INGEST_TOKEN_PREVIOUS is accepted too; without INGEST_TOKEN every request is a 500', async () => {
  await withBindings({ INGEST_TOKEN: 'the-new-token', INGEST_TOKEN_PREVIOUS: TOKEN }, async () => {
    assert.equal((await post(ndjson([{ id: 'rotate-old' }]))).status, 200);
    assert.equal((await post(ndjson([{ id: 'rotate-new' }]), { token: 'the-new-token' })).status, 200);
    assert.equal((await post(ndjson([{ id: 'rotate-bad' }]), { token: 'neither' })).status, 401);
  });
  assert.deepEqual((await stored('rotate-')).map((v) => v.id).sort(), ['rotate-new', 'rotate-old']);

  await withBindings({ INGEST_TOKEN: undefined }, () =>
    nothingSent('notoken-', async () => {
      for (const token of [null, TOKEN, '']) {
        const r = await post(ndjson([{ id: 'notoken-1' }]), { token });
        assert.equal(r.status, 500);
        assert.equal(r.body.error, 'Misconfigured');
        assert.match(r.body.message, /INGEST_TOKEN/);
      }
    }),
  );
});

test('413 for a body over MAX_BODY_BYTES (default 1 MiB), by Content-Length or counted; nothing is sent', async () => {
  const line = `${JSON.stringify({ id: 'big-1', pad: 'x'.repeat(1000) })}\n`;
  const overDefault = line.repeat(Math.ceil((MIB + 1) / line.length));
  await nothingSent('big-', async () => {
    // Declared: Content-Length is over the limit.
    for (let i = 0; i < 4; i++) assert.equal((await post(overDefault)).status, 413);
    const declared = await post(overDefault);
    assert.equal(declared.status, 413);
    assert.deepEqual(declared.body, {
      error: 'PayloadTooLarge',
      message: 'the body is over 1048576 bytes; split it into smaller requests',
      maxBodyBytes: MIB,
    });
    // Streamed with no Content-Length (chunked): counted while reading.
    // About 1.5 MiB: the Worker stops counting past 1 MiB and drops up to 1 MiB more before
    // answering, so the client gets the 413 instead of a reset.
    const chunks = Array.from({ length: 24 }, () => new TextEncoder().encode(line.repeat(64)));
    const streamed = await post(
      new ReadableStream({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
      }),
      { duplex: 'half' },
    );
    assert.equal(streamed.status, 413);
    assert.equal(streamed.body.error, 'PayloadTooLarge');
  });

  await withBindings({ MAX_BODY_BYTES: '200' }, async () => {
    const sized = (id, bytes) => `${JSON.stringify({ id, pad: 'y'.repeat(bytes - 19 - id.length) })}\n`;
    const exact = sized('limit-ok', 200);
    const over = sized('limit-no', 201);
    assert.deepEqual([exact.length, over.length], [200, 201]);
    const stream = (text) =>
      new ReadableStream({
        start(controller) {
          const bytes = new TextEncoder().encode(text);
          controller.enqueue(bytes.subarray(0, 100));
          controller.enqueue(bytes.subarray(100));
          controller.close();
        },
      });
    assert.equal((await post(exact)).status, 200);
    assert.equal((await post(stream(exact), { duplex: 'half' })).status, 200);
    await nothingSent('limit-no', async () => {
      const declared = await post(over);
      assert.deepEqual([declared.status, declared.body.maxBodyBytes], [413, 200]);
      assert.equal((await post(stream(over), { duplex: 'half' })).status, 413);
    });
  });
  assert.deepEqual(
    (await stored('limit-')).map((v) => v.id),
    ['limit-ok', 'limit-ok'],
  );

  await withBindings({ MAX_BODY_BYTES: 'lots' }, async () => {
    const r = await post(ndjson([{ id: 'limit-bad-config' }]));
    assert.deepEqual([r.status, r.body.error], [500, 'Misconfigured']);
    assert.match(r.body.message, /MAX_BODY_BYTES/);
  });
});

test('415 for a content type other than NDJSON or JSON in UTF-8; nothing is sent', async () => {
  const body = ndjson([{ id: 'type-1' }]);
  await nothingSent('type-', async () => {
    for (const type of [
      null,
      'text/plain',
      'application/xml',
      'application/jsonl',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
      'application/x-ndjson; charset=utf-16',
    ]) {
      const r = await post(body, { type });
      assert.equal(r.status, 415, String(type));
      assert.equal(r.body.error, 'UnsupportedMediaType');
    }
  });
});

test('400 lists the bad lines and every good line is still delivered', async () => {
  const lines = [
    JSON.stringify({ id: 'bad-1', n: 1 }),
    '{"id": "bad-2", n: 2}', // invalid JSON
    '',
    JSON.stringify({ id: 'bad-3', n: 3 }),
    JSON.stringify({ n: 4 }), // no partition key field
    JSON.stringify({ id: 'x'.repeat(300), n: 5 }), // key too long
    JSON.stringify({ id: 'bad-6', n: 6 }),
    'not json',
    JSON.stringify({ id: 'bad-9', n: 9 }),
  ];
  const { status, body } = await post(lines.join('\n'));
  assert.equal(status, 400);
  assert.deepEqual({ ...body, errors: undefined }, { accepted: 4, sent: 4, failed: 0, rejected: 4, errors: undefined });
  assert.deepEqual(
    body.errors.map((e) => [e.line, e.code]),
    [
      [2, 'InvalidJson'],
      [5, 'MissingPartitionKey'],
      [6, 'InvalidPartitionKey'],
      [8, 'InvalidJson'],
    ],
  );
  for (const e of body.errors) assert.ok(typeof e.message === 'string' && e.message.length > 0);
  assert.deepEqual((await stored('bad-')).map((v) => v.id).sort(), ['bad-1', 'bad-3', 'bad-6', 'bad-9']);

  // A line that is not UTF-8 is refused alone.
  const bytes = Buffer.concat([
    Buffer.from('{"id":"utf-1"}\n{"id":"utf-'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}\n{"id":"utf-3"}\n'),
  ]);
  const utf = await post(bytes);
  assert.equal(utf.status, 400);
  assert.deepEqual(
    utf.body.errors.map((e) => [e.line, e.code]),
    [[2, 'InvalidUtf8']],
  );
  assert.deepEqual((await stored('utf-')).map((v) => v.id).sort(), ['utf-1', 'utf-3']);

  // JSON bodies: an array element is named by its index; a body that is not JSON sends nothing.
  const array = await post(JSON.stringify([{ id: 'arr-0' }, { nokey: 1 }, { id: 'arr-2' }]), {
    type: 'application/json',
  });
  assert.equal(array.status, 400);
  assert.deepEqual(
    array.body.errors.map((e) => [e.index, e.code]),
    [[1, 'MissingPartitionKey']],
  );
  assert.deepEqual((await stored('arr-')).map((v) => v.id).sort(), ['arr-0', 'arr-2']);
  await nothingSent('broken-', async () => {
    const broken = await post('[{"id": "broken-1"}, {"id": ', { type: 'application/json' });
    assert.equal(broken.status, 400);
    assert.deepEqual([broken.body.accepted, broken.body.errors[0].code], [0, 'InvalidJson']);
  });
});

test('an oversized record between good ones is a 400 for its line and loses no good one', async () => {
  await withBindings({ MAX_BODY_BYTES: String(4 * MIB) }, async () => {
    const lines = [
      JSON.stringify({ id: 'huge-1' }),
      JSON.stringify({ id: 'huge-2', pad: 'z'.repeat(MIB + 10) }),
      JSON.stringify({ id: 'huge-3' }),
      JSON.stringify({ id: 'huge-4', pad: 'z'.repeat(MIB - 100) }), // just under the record limit
    ];
    const { status, body } = await post(lines.join('\n'));
    assert.equal(status, 400);
    assert.deepEqual([body.accepted, body.sent, body.failed, body.rejected], [3, 3, 0, 1]);
    assert.deepEqual(
      body.errors.map((e) => [e.line, e.code]),
      [[2, 'RecordTooLarge']],
    );
  });
  assert.deepEqual((await stored('huge-')).map((v) => v.id).sort(), ['huge-1', 'huge-3', 'huge-4']);
});

test('records Kinesis refuses are answered (502, or within a 400) by line and logged with code and count only', async () => {
  logs.length = 0;
  failing = true;
  let mixed, allFailed;
  try {
    mixed = await post(
      [JSON.stringify({ id: 'refused-1', card: 'PAYLOAD-SECRET' }), 'oops', JSON.stringify({ id: 'refused-3' })].join(
        '\n',
      ),
    );
    allFailed = await post(JSON.stringify([{ id: 'refused-4' }, { id: 'refused-5' }]), { type: 'application/json' });
  } finally {
    failing = false;
  }
  assert.equal(mixed.status, 400);
  assert.deepEqual(mixed.body, {
    accepted: 2,
    sent: 0,
    failed: 2,
    rejected: 1,
    errors: [{ line: 2, code: 'InvalidJson', message: mixed.body.errors[0].message }],
    failures: [
      { line: 1, code: 'AccessDeniedException' },
      { line: 3, code: 'AccessDeniedException' },
    ],
  });
  assert.equal(allFailed.status, 502);
  assert.deepEqual(allFailed.body, {
    accepted: 2,
    sent: 0,
    failed: 2,
    rejected: 0,
    failures: [
      { index: 0, code: 'AccessDeniedException' },
      { index: 1, code: 'AccessDeniedException' },
    ],
  });
  assert.deepEqual(await stored('refused-'), []);

  // The log lines come from workerd's output, which may trail the answer a little.
  const deadline = Date.now() + 5000;
  let failures = [];
  while (Date.now() < deadline) {
    failures = logs.filter((l) => l.message.includes('kinesis-delivery-failed'));
    if (failures.length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(failures.length, 2, JSON.stringify(logs));
  for (const l of failures) {
    assert.equal(l.level, 'error');
    const entry = JSON.parse(l.message.slice(l.message.indexOf('{')));
    assert.deepEqual(entry, {
      event: 'kinesis-delivery-failed',
      stream: STREAM,
      failed: 2,
      accepted: 2,
      codes: { AccessDeniedException: 2 },
    });
  }
  const all = logs.map((l) => l.message).join('\n');
  for (const secret of [SECRET, TOKEN, 'PAYLOAD-SECRET', 'refused-']) assert.ok(!all.includes(secret), secret);

  // And the next request goes through again.
  const again = await post(ndjson([{ id: 'recovered-1' }]));
  assert.equal(again.status, 200);
  assert.deepEqual((await stored('recovered-')).length, 1);
});

test('wrong method and path', async () => {
  const get = await mf.dispatchFetch('http://worker.test/ingest');
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  await get.arrayBuffer();
  const other = await mf.dispatchFetch('http://worker.test/other', { method: 'POST', body: '{}' });
  assert.equal(other.status, 404);
  await other.arrayBuffer();
});

test('a missing AWS secret is a 500 that names the problem and shows no secret', async () => {
  await withBindings({ AWS_ACCESS_KEY_ID: undefined }, async () => {
    const { status, body } = await post('{"id":"never"}');
    assert.equal(status, 500);
    assert.equal(body.error, 'InvalidOption');
    assert.match(body.message, /credentials/);
  });
});
