// The ingestion Worker example (pkg/examples/worker) in workerd through miniflare 4.20260426.0:
// the tarball is installed in a fresh project next to the example's src/ and wrangler.toml,
// wrangler 4.86.0 bundles it (`deploy --dry-run`: the `workerd` export condition, the .wasm as a
// pre-compiled module), and miniflare runs that bundle with the Worker secrets as bindings.
// 10,000 records posted in 20 requests (NDJSON and JSON arrays) are read back from kinesalite.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import { bin, check, cleanEnv, cleanup, freshProject, parsed, pkgDir, tempDir, testsDir } from './support/package.mjs';

const { Miniflare } = await import(path.join(testsDir, 'node_modules', 'miniflare', 'dist', 'src', 'index.js'));

const SECRET = 'worker-secret-value-never-returned';
const STREAM = 'ingest';
let kinesalite, mf, bundleDir;

before(async () => {
  kinesalite = await startKinesalite({ streams: { [STREAM]: 4 } });
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

function workerOptions(secrets = { AWS_ACCESS_KEY_ID: 'AKIDWORKER', AWS_SECRET_ACCESS_KEY: SECRET }) {
  return {
    modules: true,
    scriptPath: path.join(bundleDir, 'index.js'),
    modulesRoot: bundleDir,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-01',
    bindings: {
      STREAM_NAME: STREAM,
      AWS_REGION: 'us-east-1',
      KINESIS_ENDPOINT: kinesalite.endpoint,
      PARTITION_KEY_FIELD: 'id',
      // Worker secrets reach the Worker as bindings like these.
      ...secrets,
    },
  };
}

after(async () => {
  await mf?.dispose();
  await kinesalite?.stop();
  cleanup();
});

async function post(body, contentType) {
  const response = await mf.dispatchFetch('http://worker.test/ingest', {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  });
  const text = await response.text();
  assert.ok(!text.includes(SECRET), 'no secret in a response');
  return { status: response.status, body: JSON.parse(text) };
}

async function readUntil(count, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: STREAM });
    if (records.length >= count || Date.now() > deadline) return records;
    await sleep(300);
  }
}

test('wrangler bundles the workerd entry with the wasm as a module', () => {
  const files = readdirSync(bundleDir);
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1);
  const js = readFileSync(path.join(bundleDir, 'index.js'), 'utf8');
  assert.match(js, new RegExp(`^import \\w+ from "\\./${wasm[0].replace('.', '\\.')}";$`, 'm'));
  assert.ok(!js.includes('readFileSync') && !js.includes('Deno.'), 'no other entry point was bundled');
});

test('10,000 records posted in 20 requests are delivered', async () => {
  let accepted = 0;
  for (let r = 0; r < 20; r++) {
    const records = Array.from({ length: 500 }, (_, i) => ({
      id: `w-${r}-${i}`,
      n: r * 500 + i,
      at: new Date(0).toISOString(),
    }));
    const { status, body } =
      r % 2 === 0
        ? await post(records.map((x) => JSON.stringify(x)).join('\n') + '\n', 'application/x-ndjson')
        : await post(JSON.stringify(records), 'application/json');
    assert.equal(status, 202);
    assert.deepEqual(body, { accepted: 500, rejected: 0 });
    accepted += body.accepted;
  }
  assert.equal(accepted, 10_000);
  const values = parsed(await readUntil(10_000)).filter((v) => v.id.startsWith('w-'));
  assert.equal(values.length, 10_000);
  assert.deepEqual(
    values.map((v) => v.n).sort((a, b) => a - b),
    Array.from({ length: 10_000 }, (_, i) => i),
  );
});

test('bad lines get a 400 that lists them, and every valid line is still delivered', async () => {
  const lines = [
    JSON.stringify({ id: 'bad-1', n: 1 }),
    '{"id": "bad-2", n: 2}', // invalid JSON
    '',
    JSON.stringify({ id: 'bad-3', n: 3 }),
    JSON.stringify({ n: 4 }), // no partition key field
    JSON.stringify({ id: 'x'.repeat(300), n: 5 }), // key too long
    JSON.stringify({ id: 'bad-6', n: 6 }),
    'not json',
  ];
  const { status, body } = await post(lines.join('\n'), 'application/x-ndjson');
  assert.equal(status, 400);
  assert.equal(body.accepted, 3);
  assert.equal(body.rejected, 4);
  assert.deepEqual(
    body.errors.map((e) => [e.line, e.code]),
    [
      [2, 'InvalidJson'],
      [5, 'MissingPartitionKey'],
      [6, 'InvalidPartitionKey'],
      [8, 'InvalidJson'],
    ],
  );
  const arrayBody = await post('[{"id": "bad-7"}, {"id": ', 'application/json');
  assert.equal(arrayBody.status, 400);
  assert.deepEqual([arrayBody.body.accepted, arrayBody.body.errors[0].code], [0, 'InvalidJson']);

  const delivered = parsed(await readUntil(10_003)).filter((v) => String(v.id).startsWith('bad-'));
  assert.deepEqual(delivered.map((v) => v.id).sort(), ['bad-1', 'bad-3', 'bad-6']);
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

test('a missing secret is a 500 that names the problem and shows no secret', async () => {
  await mf.setOptions(workerOptions({ AWS_SECRET_ACCESS_KEY: SECRET }));
  const { status, body } = await post('{"id":"never"}', 'application/x-ndjson');
  assert.equal(status, 500);
  assert.equal(body.error, 'InvalidOption');
  assert.match(body.message, /credentials/);
});
