// TypeScript 7.0.2 `tsc --noEmit` on the consumer example (pkg/examples/typescript) with the
// packed tarball installed: every option and export (consumer.ts, ESM), `require` (consumer.cts,
// checked under nodenext and under node16, which only accepts the CommonJS types index.d.cts),
// 'kinesis-batch/slim' (slim.ts) and the `workerd` condition with bundler resolution (worker.ts).
// skipLibCheck is off, so the package's .d.ts files are checked too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bin, check, cleanup, freshProject, pkgDir, run } from './support/package.mjs';

after(cleanup);

const example = path.join(pkgDir, 'examples', 'typescript');

async function project() {
  const files = {};
  for (const f of readdirSync(example))
    if (f !== 'package.json' && f !== 'node_modules') files[f] = readFileSync(path.join(example, f));
  return freshProject('types', { packageJson: { type: 'module' }, files });
}

test('tsc --noEmit passes on the consumer example under every resolution', async () => {
  const dir = await project();
  const esm = await check(bin('tsc'), ['-p', 'tsconfig.json', '--listFiles'], { cwd: dir });
  const used = esm.stdout
    .split('\n')
    .filter((l) => l.includes('/node_modules/kinesis-batch/'))
    .map((l) => path.basename(l.trim()));
  assert.deepEqual(used.sort(), ['index.d.cts', 'index.d.ts', 'slim.d.ts']);
  await check(bin('tsc'), ['-p', 'tsconfig.json', '--module', 'node16', '--moduleResolution', 'node16'], { cwd: dir });
  await check(bin('tsc'), ['-p', 'tsconfig.worker.json'], { cwd: dir });
});

test('tsc rejects misuse (the types are not any)', async () => {
  const dir = await project();
  writeFileSync(
    path.join(dir, 'consumer.ts'),
    `
import { KinesisBatchDispatcher, planBatches, type KinesisBatchErrorCode } from 'kinesis-batch';
new KinesisBatchDispatcher('s', { maxInFlight: 'four' });
planBatches([1], { retryBaseDelayMs: 5 });
export const n: string = new KinesisBatchDispatcher('s').progress.sent;
const report = await new KinesisBatchDispatcher('s').flushPayloads();
export const typo = report.failed.some((f) => f.errorCode === 'ResourceNotFoundExeption');
export const known = report.failed.some((f) => f.errorCode === 'ResourceNotFoundException' || f.errorCode === 'Timeout');
export const closed: KinesisBatchErrorCode = 'Closd';
`,
  );
  const r = await run(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: dir });
  assert.notEqual(r.code, 0);
  const errors = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('consumer.ts('))
    .map((l) => l.replace(/^consumer\.ts\((\d+),\d+\): error (TS\d+).*$/, '$1 $2'));
  // A misspelt failure code or error code does not compile; a known one does.
  assert.deepEqual(errors, ['3 TS2322', '4 TS2353', '5 TS2322', '7 TS2367', '9 TS2820'], r.stdout);
});
