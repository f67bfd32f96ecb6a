// Headless Chromium (Debian `chromium`, driven by playwright-core 1.65.1) loads the packed package
// from a fresh project served on 127.0.0.1. The import map points 'kinesis-batch' at the file the
// package's `browser` export condition names, as a bundler would. The page sends records to
// kinesalite (which answers CORS) and they are read back. A second page uses
// 'kinesis-batch/slim' with init(fetch(url of 'kinesis-batch/kinesis_batch.wasm')).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startKinesalite, readAllRecords } from '../support/servers.mjs';
import { cleanup, freshProject, tempDir } from './support/package.mjs';
import { launchChromium } from '../support/chromium.mjs';

const SECRET = 'browser-secret-value-never-logged';
let kinesalite, server, browser, origin, exportsMap;

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

before(async () => {
  kinesalite = await startKinesalite({ streams: { browser: 2, 'browser-slim': 1 } });
  const dir = await freshProject('browser', { packageJson: { type: 'module' } });
  const pkgJson = JSON.parse(readFileSync(path.join(dir, 'node_modules', 'kinesis-batch', 'package.json'), 'utf8'));
  const at = (target) => `/node_modules/kinesis-batch/${target.replace(/^\.\//, '')}`;
  exportsMap = {
    'kinesis-batch': at(pkgJson.exports['.'].browser.default),
    'kinesis-batch/slim': at(pkgJson.exports['./slim'].default),
    wasm: at(pkgJson.exports['./kinesis_batch.wasm']),
  };
  const page = (script) => `<!doctype html><meta charset="utf-8"><title>kinesis-batch</title>
<script type="importmap">${JSON.stringify({ imports: { 'kinesis-batch': exportsMap['kinesis-batch'], 'kinesis-batch/slim': exportsMap['kinesis-batch/slim'] } })}</script>
<script type="module">${script}</script>`;
  const pages = {
    '/index.html': page(`
      import { KinesisBatchDispatcher, KinesisBatchError, hashKeyOf } from 'kinesis-batch';
      window.send = async ({ endpoint, stream, count, secret }) => {
        const progress = [];
        const kn = new KinesisBatchDispatcher(stream, {
          endpoint, region: 'us-east-1', partitionKeyIdentifier: 'id', maxBatchSize: 200,
          credentials: { accessKeyId: 'AKIDBROWSER', secretAccessKey: secret },
          onProgress: (p) => progress.push(p.sent),
        });
        for (let n = 0; n < count; n++) await kn.submitPayload({ id: 'b-' + n, n, ua: 'chromium' });
        const report = await kn.flushPayloads();
        return { sent: report.sent, failed: report.failed.length, requests: report.requests, lastProgress: progress.at(-1), hash: hashKeyOf('pk-1') };
      };
      window.ready = true;`),
    '/slim.html': page(`
      import { init, KinesisBatchDispatcher, KinesisBatchError } from 'kinesis-batch/slim';
      window.send = async ({ endpoint, stream, count, secret, wasmUrl }) => {
        let before;
        try { new KinesisBatchDispatcher(stream, {}); } catch (e) { before = e instanceof KinesisBatchError && e.code; }
        await init(fetch(wasmUrl));
        const kn = new KinesisBatchDispatcher(stream, { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDBROWSER', secretAccessKey: secret } });
        for (let n = 0; n < count; n++) await kn.submitPayload(new TextEncoder().encode('slim-' + n));
        const report = await kn.flushPayloads();
        return { before, sent: report.sent, failed: report.failed.length };
      };
      window.ready = true;`),
  };
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (pages[url.pathname]) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(pages[url.pathname]);
    }
    const file = path.join(dir, path.normalize(decodeURIComponent(url.pathname)));
    if (!file.startsWith(dir + path.sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium({ home: tempDir('chromium-home') });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  await kinesalite?.stop();
  cleanup();
});

async function openPage(name) {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/${name}`);
  await page
    .waitForFunction(() => window.ready === true, null, { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`${name} did not load: ${e.message}\n${logs.join('\n')}`);
    });
  return { page, logs };
}

test('the browser entry sends records from a page (CORS) and they are read back', async () => {
  assert.equal(exportsMap['kinesis-batch'], '/node_modules/kinesis-batch/browser.js');
  const count = 1000;
  const { page, logs } = await openPage('index.html');
  const out = await page.evaluate((args) => window.send(args), {
    endpoint: kinesalite.endpoint,
    stream: 'browser',
    count,
    secret: SECRET,
  });
  assert.deepEqual(out, {
    sent: count,
    failed: 0,
    requests: 5,
    lastProgress: count,
    hash: '273922656776327812788301823748127981641',
  });
  assert.ok(!logs.join('\n').includes(SECRET));
  await page.close();
  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: 'browser' });
  const values = records.map((r) => JSON.parse(r.data.toString()));
  assert.deepEqual(
    values.map((v) => v.n).sort((a, b) => a - b),
    Array.from({ length: count }, (_, i) => i),
  );
  assert.ok(records.every((r) => r.partitionKey === `b-${JSON.parse(r.data).n}`));
});

test('the slim entry in the browser: NotInitialized, then init(fetch(wasm url))', async () => {
  const count = 300;
  const { page } = await openPage('slim.html');
  const out = await page.evaluate((args) => window.send(args), {
    endpoint: kinesalite.endpoint,
    stream: 'browser-slim',
    count,
    secret: SECRET,
    wasmUrl: exportsMap.wasm,
  });
  assert.deepEqual(out, { before: 'NotInitialized', sent: count, failed: 0 });
  await page.close();
  const records = await readAllRecords({ endpoint: kinesalite.endpoint, stream: 'browser-slim' });
  assert.equal(records.length, count);
  assert.equal(new Set(records.map((r) => r.data.toString())).size, count);
});
