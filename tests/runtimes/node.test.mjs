// Node, from the packed tarball installed in fresh projects under /tmp:
//   - ESM `import` (the `node` + `import` conditions → node.js) against kinesis-local, with
//     region and credentials from AWS_* environment variables;
//   - CommonJS `require` (→ node.cjs, a real CJS build) against kinesalite;
//   - `kinesis-batch/slim`: NotInitialized before init(), then init() with the bytes of
//     `kinesis-batch/kinesis_batch.wasm`; slim reads no environment.
// Each run sends records and they are read back from the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKinesalite, startKinesisLocal, readAllRecords } from '../support/servers.mjs';
import { check, cleanEnv, cleanup, freshProject, parsed } from './support/package.mjs';

const SECRET = 'node-secret-value-never-printed';
let kinesalite, kinesisLocal;
before(async () => {
  [kinesalite, kinesisLocal] = await Promise.all([
    startKinesalite({ streams: { 'node-cjs': 2, 'node-slim': 1 } }),
    startKinesisLocal({ streams: { 'node-esm': 2 } }),
  ]);
});
after(async () => {
  await Promise.all([kinesalite?.stop(), kinesisLocal?.stop()]);
  cleanup();
});

const env = (extra = {}) =>
  cleanEnv({ AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDNODE', AWS_SECRET_ACCESS_KEY: SECRET, ...extra });

function lastJson(stdout) {
  return JSON.parse(stdout.trim().split('\n').pop());
}

async function readBack(endpoint, stream) {
  return parsed(await readAllRecords({ endpoint, stream }));
}

const esmMain = `
import { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from 'kinesis-batch';
const [stream, endpoint, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const kn = new KinesisBatchDispatcher(stream, { endpoint, partitionKeyIdentifier: 'id', maxBatchSize: 250 });
for (let n = 0; n < count; n++) await kn.submitPayload({ id: 'esm-' + n, n });
let rejected;
try { await kn.submitPayload({ id: 'x'.repeat(257) }); } catch (e) { rejected = e instanceof KinesisBatchError && e.code; }
const report = await kn.flushPayloads();
console.log(JSON.stringify({
  sent: report.sent, failed: report.failed.length, codes: [...new Set(report.failed.map((f) => f.errorCode + ' ' + f.errorMessage))], requests: report.requests, region: kn.region, rejected,
  resolved: import.meta.resolve('kinesis-batch'),
  hash: hashKeyOf('pk-1'), shard: shardIndexFor('pk-1', 4), planned: planBatches([1, 2, 3]).batches.length,
}));
`;

test('Node ESM import, environment credentials, kinesis-local', async () => {
  const count = 1000;
  const dir = await freshProject('node-esm', { packageJson: { type: 'module' }, files: { 'main.mjs': esmMain } });
  // kinesis-local keeps its streams in us-east-1; AWS_REGION wins over AWS_DEFAULT_REGION.
  const r = await check(process.execPath, ['main.mjs', 'node-esm', kinesisLocal.endpoint, String(count)], {
    cwd: dir,
    env: env({ AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'eu-west-1' }),
  });
  const out = lastJson(r.stdout);
  assert.deepEqual(
    {
      sent: out.sent,
      failed: out.failed,
      codes: out.codes,
      requests: out.requests,
      region: out.region,
      rejected: out.rejected,
    },
    { sent: count, failed: 0, codes: [], requests: 4, region: 'us-east-1', rejected: 'InvalidPartitionKey' },
  );
  assert.match(out.resolved, /\/node_modules\/kinesis-batch\/node\.js$/);
  assert.equal(out.hash, '273922656776327812788301823748127981641');
  assert.ok(!(r.stdout + r.stderr).includes(SECRET));
  const values = await readBack(kinesisLocal.endpoint, 'node-esm');
  assert.deepEqual(
    values.map((v) => v.n).sort((a, b) => a - b),
    Array.from({ length: count }, (_, i) => i),
  );
});

const cjsMain = `
'use strict';
const { KinesisBatchDispatcher, KinesisBatchError, hashKeyOf } = require('kinesis-batch');
const [stream, endpoint, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
(async () => {
  const kn = new KinesisBatchDispatcher(stream, { endpoint, partitionKeyIdentifier: 'id' });
  for (let n = 0; n < count; n++) await kn.submitPayload(Buffer.from(JSON.stringify({ id: 'cjs-' + n, n })), { partitionKey: 'cjs-' + n });
  let badOption;
  try {
    new KinesisBatchDispatcher(stream, { endpoint, credentials: () => { throw new Error('unused'); }, maxBatchSize: 501 });
  } catch (e) { badOption = e instanceof KinesisBatchError && e.code + ':' + e.option; }
  const report = await kn.flushPayloads();
  console.log(JSON.stringify({
    sent: report.sent, failed: report.failed.length, region: kn.region, badOption,
    resolved: require.resolve('kinesis-batch'), hash: hashKeyOf('pk-1'),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('Node CommonJS require, kinesalite', async () => {
  const count = 1200;
  const dir = await freshProject('node-cjs', {
    packageJson: { type: 'commonjs' },
    files: { 'main.cjs': cjsMain, 'main.js': cjsMain },
  });
  for (const file of ['main.cjs', 'main.js']) {
    const stream = 'node-cjs';
    const r = await check(process.execPath, [file, stream, kinesalite.endpoint, String(count)], {
      cwd: dir,
      env: env({ AWS_REGION: '', AWS_DEFAULT_REGION: 'ap-south-1' }),
    });
    const out = lastJson(r.stdout);
    assert.deepEqual(
      { sent: out.sent, failed: out.failed, region: out.region, badOption: out.badOption, hash: out.hash },
      {
        sent: count,
        failed: 0,
        region: 'ap-south-1',
        badOption: 'InvalidOption:maxBatchSize',
        hash: '273922656776327812788301823748127981641',
      },
    );
    assert.match(out.resolved, /\/node_modules\/kinesis-batch\/node\.cjs$/);
    assert.ok(!(r.stdout + r.stderr).includes(SECRET));
  }
  const values = await readBack(kinesalite.endpoint, 'node-cjs');
  assert.equal(values.length, 2 * count);
  assert.equal(new Set(values.map((v) => v.n)).size, count);
});

const slimMain = `
import { init, KinesisBatchDispatcher, KinesisBatchError, hashKeyOf, planBatches } from 'kinesis-batch/slim';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
const [stream, endpoint, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const before = [];
for (const call of [() => hashKeyOf('a'), () => planBatches([1]), () => new KinesisBatchDispatcher(stream, {})]) {
  try { call(); before.push('no error'); } catch (e) { before.push(e instanceof KinesisBatchError ? e.code : String(e)); }
}
const wasmPath = fileURLToPath(import.meta.resolve('kinesis-batch/kinesis_batch.wasm'));
const first = init(readFile(wasmPath));
const again = init(new Uint8Array(0)); // the first call's promise: never compiles these bytes
await Promise.all([first, again]);
let noRegion;
try { new KinesisBatchDispatcher(stream, { endpoint, credentials: { accessKeyId: 'AKIDSLIM', secretAccessKey: 'x' } }); }
catch (e) { noRegion = e.code + ':' + e.option; }
const kn = new KinesisBatchDispatcher(stream, { endpoint, region: 'us-west-2', credentials: async () => ({ accessKeyId: 'AKIDSLIM', secretAccessKey: 'slim-secret' }) });
for (let n = 0; n < count; n++) await kn.submitPayload('slim line ' + n);
const report = await kn.flushPayloads();
console.log(JSON.stringify({ before, same: first === again, noRegion, sent: report.sent, failed: report.failed.length, wasmPath }));
`;

test('kinesis-batch/slim: NotInitialized until init(bytes), no environment', async () => {
  const count = 700;
  const dir = await freshProject('node-slim', { packageJson: { type: 'module' }, files: { 'main.mjs': slimMain } });
  const r = await check(process.execPath, ['main.mjs', 'node-slim', kinesalite.endpoint, String(count)], {
    cwd: dir,
    env: env(),
  });
  const out = lastJson(r.stdout);
  assert.deepEqual(out.before, ['NotInitialized', 'NotInitialized', 'NotInitialized']);
  assert.equal(out.same, true);
  assert.equal(out.noRegion, 'InvalidOption:region', 'slim does not read AWS_REGION');
  assert.equal(out.sent, count);
  assert.equal(out.failed, 0);
  assert.match(out.wasmPath, /\/node_modules\/kinesis-batch\/wasm\/kinesis_batch_bg\.wasm$/);
  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: 'node-slim' });
  assert.deepEqual(
    records.map((x) => x.data.toString()).sort(),
    Array.from({ length: count }, (_, n) => `slim line ${n}`).sort(),
  );
});
