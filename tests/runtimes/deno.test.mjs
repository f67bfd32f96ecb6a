// Deno 2.9.6 (npm package `deno`) runs `deno test` on a TypeScript test that imports the packed
// package, both ways Deno users get it:
//   - `npm:kinesis-batch` downloaded into a fresh DENO_DIR from a throwaway registry on 127.0.0.1
//     (the `deno` export condition, Deno's global npm cache);
//   - a node_modules install of the tarball (`nodeModulesDir: "manual"`).
// No --allow-read: the wasm comes in through a source phase import. Region and credentials come
// from the environment (--allow-env for the AWS_* names only). Records are read back from kinesalite.
import { test, before, after } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import {
  bin,
  check,
  cleanEnv,
  cleanup,
  freshProject,
  packOnce,
  parsed,
  startTarballRegistry,
  tempDir,
  writeFiles,
} from './support/package.mjs';

const COUNT = 1500;
let kinesalite;
before(async () => {
  kinesalite = await startKinesalite({ streams: { 'deno-npm': 2, 'deno-modules': 2 } });
});
after(async () => {
  await kinesalite?.stop();
  cleanup();
});

const PKG_VERSION = JSON.parse(readFileSync(new URL('../../pkg/package.json', import.meta.url), 'utf8')).version;

const denoTest = (specifier) => `
import { KinesisBatchDispatcher, KinesisBatchError, hashKeyOf, planBatches, type FlushReport } from '${specifier}';


function ok(value: unknown, message: string): asserts value {
  if (!value) throw new Error(message);
}
const stream = Deno.env.get('KB_STREAM')!;
const endpoint = Deno.env.get('KB_ENDPOINT')!;
const count = Number(Deno.env.get('KB_COUNT'));

Deno.test('the wasm is loaded on import', () => {
  ok(hashKeyOf('pk-1') === '273922656776327812788301823748127981641', 'hashKeyOf');
  ok(planBatches([{ a: 1 }, { a: 2 }]).batches[0].records === 2, 'planBatches');
});

Deno.test('region and credentials come from Deno.env', () => {
  const kn = new KinesisBatchDispatcher(stream, { endpoint });
  ok(kn.region === 'eu-central-1', 'region from AWS_REGION: ' + kn.region);
});

Deno.test('delivers every record', async () => {
  const kn = new KinesisBatchDispatcher<{ id: string; n: number }>(stream, { endpoint, partitionKeyIdentifier: 'id', maxBatchSize: 400 });
  for (let n = 0; n < count; n++) await kn.submitPayload({ id: 'deno-' + n, n });
  const report: FlushReport<{ id: string; n: number }> = await kn.flushPayloads();
  ok(report.sent === count && report.failed.length === 0, 'report ' + JSON.stringify(report));
  ok(report.requests >= Math.ceil(count / 400), 'requests ' + report.requests);
});

Deno.test('an invalid record is rejected with KinesisBatchError', async () => {
  const kn = new KinesisBatchDispatcher(stream, { endpoint, partitionKeyIdentifier: 'id' });
  let caught: unknown;
  try {
    await kn.submitPayload({ other: 1 });
  } catch (error) {
    caught = error;
  }
  ok(caught instanceof KinesisBatchError && caught.code === 'MissingPartitionKey', 'got ' + caught);
});
`;

const allowEnv =
  '--allow-env=AWS_REGION,AWS_DEFAULT_REGION,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN,KB_STREAM,KB_ENDPOINT,KB_COUNT';
const SECRET = 'deno-secret-value-never-printed';

function denoEnv(stream, denoDir, extra = {}) {
  return cleanEnv({
    DENO_DIR: denoDir,
    DENO_NO_UPDATE_CHECK: '1',
    DENO_NO_PROMPT: '1',
    NO_COLOR: '1',
    AWS_REGION: 'eu-central-1',
    AWS_ACCESS_KEY_ID: 'AKIDDENO',
    AWS_SECRET_ACCESS_KEY: SECRET,
    KB_STREAM: stream,
    KB_ENDPOINT: kinesalite.endpoint,
    KB_COUNT: String(COUNT),
    ...extra,
  });
}

async function assertDelivered(stream, prefix) {
  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream });
  const values = parsed(records);
  assert.equal(values.length, COUNT);
  assert.deepEqual(new Set(values.map((v) => v.n)).size, COUNT);
  for (const r of records) assert.match(r.partitionKey, new RegExp(`^${prefix}-\\d+$`));
}

test('npm:kinesis-batch from a registry into a fresh DENO_DIR', async () => {
  const { tarball } = await packOnce();
  const registry = await startTarballRegistry(tarball);
  try {
    const dir = tempDir('deno-npm');
    writeFiles(dir, { 'kinesis.test.ts': denoTest(`npm:kinesis-batch@${PKG_VERSION}`) });
    const port = new URL(kinesalite.endpoint).port;
    const r = await check(
      bin('deno'),
      ['test', '--no-lock', `--allow-net=127.0.0.1:${port}`, allowEnv, 'kinesis.test.ts'],
      {
        cwd: dir,
        env: denoEnv('deno-npm', tempDir('deno-dir'), { NPM_CONFIG_REGISTRY: registry.url }),
      },
    );
    assert.match(r.stdout, /ok \| 4 passed \| 0 failed/);
    assert.ok(
      registry.requests.some((u) => u.endsWith('.tgz')),
      'the tarball was downloaded from the registry',
    );
    assert.ok(!(r.stdout + r.stderr).includes(SECRET));
  } finally {
    await registry.stop();
  }
  await assertDelivered('deno-npm', 'deno');
});

test('kinesis-batch from node_modules (nodeModulesDir: manual)', async () => {
  const dir = await freshProject('deno-modules', {
    packageJson: { type: 'module' },
    files: { 'deno.json': JSON.stringify({ nodeModulesDir: 'manual' }), 'kinesis.test.ts': denoTest('kinesis-batch') },
  });
  const port = new URL(kinesalite.endpoint).port;
  const r = await check(
    bin('deno'),
    ['test', '--no-lock', `--allow-net=127.0.0.1:${port}`, allowEnv, 'kinesis.test.ts'],
    {
      cwd: dir,
      env: denoEnv('deno-modules', tempDir('deno-dir')),
    },
  );
  assert.match(r.stdout, /ok \| 4 passed \| 0 failed/);
  await assertDelivered('deno-modules', 'deno');
});
