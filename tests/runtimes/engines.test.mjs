// Node 22, Node 24 and Bun, from the packed tarball installed in fresh projects under /tmp. The
// binaries come from pinned npm packages in tests/runtimes/engines/<name>/ (package.json +
// package-lock.json): `npm ci` runs there when node_modules is missing or holds another version.
// Each engine runs, against kinesalite:
//   - ESM `import` (Node and Bun resolve the `node` + `import` conditions → node.js);
//   - CommonJS `require` (the `node` + `require` conditions → node.cjs);
// and each run checks the exports, hashKeyOf / shardIndexFor / planBatches values, the region and
// credentials from AWS_* variables, a rejected record, and reads every record back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import { check, cleanEnv, cleanup, freshProject, npm, parsed, run } from './support/package.mjs';

const enginesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'engines');
const SECRET = 'engines-secret-value-never-printed';
const EXPORTS = ['KinesisBatchDispatcher', 'KinesisBatchError', 'hashKeyOf', 'planBatches', 'shardIndexFor'];
const COUNT = 1000;

// The independent values: Kinesis' hash key is MD5 as a big-endian u128; shards split evenly.
const md5 = BigInt(`0x${createHash('md5').update('pk-1').digest('hex')}`);
const HASH = md5.toString();
const SHARD = Number(md5 / ((1n << 128n) / 4n));

/** { folder: { name, exe, version } } from the pinned package in engines/<folder>/package.json. */
const ENGINES = Object.fromEntries(
  ['node22', 'node24', 'bun'].map((folder) => {
    const { dependencies } = JSON.parse(readFileSync(path.join(enginesDir, folder, 'package.json'), 'utf8'));
    const [[name, version]] = Object.entries(dependencies);
    return [folder, { name, version, exe: path.join(enginesDir, folder, 'node_modules', '.bin', name) }];
  }),
);

async function installedVersion({ exe }) {
  if (!existsSync(exe)) return null;
  const r = await run(exe, ['--version'], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim().replace(/^v/, '') : null;
}

/** `npm ci` in engines/<folder> unless the pinned binary is already there and runs. */
async function ensureEngine(folder) {
  const engine = ENGINES[folder];
  if ((await installedVersion(engine)) === engine.version) return;
  await npm(['ci', '--no-audit', '--no-fund'], path.join(enginesDir, folder), { timeoutMs: 300_000 });
  const got = await installedVersion(engine);
  if (got !== engine.version) throw new Error(`${folder}: ${engine.exe} --version gave ${got}, want ${engine.version}`);
}

let kinesalite;
before(async () => {
  const streams = {};
  for (const folder of Object.keys(ENGINES)) Object.assign(streams, { [`${folder}-esm`]: 2, [`${folder}-cjs`]: 2 });
  [kinesalite] = await Promise.all([
    startKinesalite({ streams }),
    ...Object.keys(ENGINES).map((folder) => ensureEngine(folder)),
  ]);
});
after(async () => {
  await kinesalite?.stop();
  cleanup();
});

const env = () =>
  cleanEnv({ AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDENGINES', AWS_SECRET_ACCESS_KEY: SECRET });

const esmMain = `
import * as kb from 'kinesis-batch';
import { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from 'kinesis-batch';
const [stream, endpoint, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const kn = new KinesisBatchDispatcher(stream, { endpoint, partitionKeyIdentifier: 'id', maxBatchSize: 250 });
for (let n = 0; n < count; n++) await kn.submitPayload({ id: 'esm-' + n, n });
let rejected;
try { await kn.submitPayload({ id: 'x'.repeat(257) }); } catch (e) { rejected = e instanceof KinesisBatchError && e.code; }
const report = await kn.flushPayloads();
console.log(JSON.stringify({
  runtime: typeof Bun === 'undefined' ? 'node ' + process.versions.node : 'bun ' + Bun.version,
  exports: Object.keys(kb).sort(), types: Object.keys(kb).sort().map((k) => typeof kb[k]),
  resolved: import.meta.resolve('kinesis-batch'),
  sent: report.sent, failed: report.failed.length, requests: report.requests, region: kn.region, rejected,
  hash: hashKeyOf('pk-1'), shard: shardIndexFor('pk-1', 4), planned: planBatches([1, 2, 3]).batches.map((b) => b.records),
}));
`;

const cjsMain = `
'use strict';
const kb = require('kinesis-batch');
const { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } = kb;
const [stream, endpoint, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
(async () => {
  const kn = new KinesisBatchDispatcher(stream, { endpoint, partitionKeyIdentifier: 'id', maxBatchSize: 250 });
  for (let n = 0; n < count; n++) await kn.submitPayload(Buffer.from(JSON.stringify({ id: 'cjs-' + n, n })), { partitionKey: 'cjs-' + n });
  let badOption;
  try {
    new KinesisBatchDispatcher(stream, { endpoint, credentials: () => { throw new Error('unused'); }, maxBatchSize: 501 });
  } catch (e) { badOption = e instanceof KinesisBatchError && e.code + ':' + e.option; }
  const report = await kn.flushPayloads();
  console.log(JSON.stringify({
    runtime: typeof Bun === 'undefined' ? 'node ' + process.versions.node : 'bun ' + Bun.version,
    exports: Object.keys(kb).sort(), types: Object.keys(kb).sort().map((k) => typeof kb[k]),
    resolved: require.resolve('kinesis-batch'),
    sent: report.sent, failed: report.failed.length, requests: report.requests, region: kn.region, badOption,
    hash: hashKeyOf('pk-1'), shard: shardIndexFor('pk-1', 4), planned: planBatches([1, 2, 3]).batches.map((b) => b.records),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** One fresh project per engine (both scripts), made on first use. */
const projects = {};
function projectFor(folder) {
  projects[folder] ??= freshProject(`engine-${folder}`, {
    packageJson: { type: 'module' },
    files: { 'main.mjs': esmMain, 'main.cjs': cjsMain },
  });
  return projects[folder];
}

async function runMain(folder, kind) {
  const { name, version, exe } = ENGINES[folder];
  const dir = await projectFor(folder);
  const stream = `${folder}-${kind}`;
  const r = await check(exe, [`main.${kind === 'esm' ? 'mjs' : 'cjs'}`, stream, kinesalite.endpoint, String(COUNT)], {
    cwd: dir,
    env: env(),
  });
  assert.ok(!(r.stdout + r.stderr).includes(SECRET), 'the secret key is never printed');
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(out.runtime, `${name} ${version}`);
  assert.deepEqual(out.exports, EXPORTS);
  assert.deepEqual(out.types, ['function', 'function', 'function', 'function', 'function']);
  assert.equal(out.hash, HASH);
  assert.equal(out.shard, SHARD);
  assert.deepEqual(out.planned, [3]);
  assert.equal(out.region, 'eu-west-1');
  assert.deepEqual(
    { sent: out.sent, failed: out.failed, requests: out.requests },
    { sent: COUNT, failed: 0, requests: COUNT / 250 },
  );
  const values = parsed(await readAllRecords({ endpoint: kinesalite.endpoint, stream }));
  assert.deepEqual(
    values.map((v) => v.n).sort((a, b) => a - b),
    Array.from({ length: COUNT }, (_, i) => i),
  );
  assert.deepEqual(new Set(values.map((v) => v.id.slice(0, 4))), new Set([`${kind}-`]));
  return out;
}

for (const folder of Object.keys(ENGINES)) {
  const { name, version } = ENGINES[folder];
  const label = `${name === 'bun' ? 'Bun' : 'Node'} ${version}`;

  test(`${label}: ESM import from the tarball, kinesalite`, async (t) => {
    const out = await runMain(folder, 'esm');
    t.diagnostic(`${out.runtime}: import → ${out.resolved}`);
    assert.equal(out.rejected, 'InvalidPartitionKey');
    // Node and Bun both take the `node` + `import` branch (the package has no `bun` condition).
    assert.match(out.resolved, /\/node_modules\/kinesis-batch\/node\.js$/);
  });

  test(`${label}: CommonJS require from the tarball, kinesalite`, async (t) => {
    const out = await runMain(folder, 'cjs');
    t.diagnostic(`${out.runtime}: require → ${out.resolved}`);
    assert.equal(out.badOption, 'InvalidOption:maxBatchSize');
    assert.match(out.resolved, /\/node_modules\/kinesis-batch\/node\.cjs$/);
  });
}
