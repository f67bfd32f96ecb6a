// `kinesis-batch preview` from the packed tarball: installed in a fresh /tmp project, the bin
// serves the page the package ships (its www/ folder, the page's vendor files answered with the
// package's own core.js and wasm) on 127.0.0.1 and prints the URL. Headless Chromium (Debian
// `chromium`, driven by playwright-core) opens it, plans pasted NDJSON records, and the counts
// are checked against the installed package's planBatches. Also: Content-Types, no path
// traversal, no directory listing, and exit status 0 on SIGTERM and on SIGINT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanup, freshProject, packOnce, repoRoot, tempDir } from './support/package.mjs';
import { launchChromium } from '../support/chromium.mjs';

let dir, installed, server, browser;

/** Starts `kinesis-batch preview` in the project; resolves { child, url, exited, output() } once the URL is printed. */
function startPreview(args = ['--port', '0']) {
  const child = spawn(path.join(dir, 'node_modules', '.bin', 'kinesis-batch'), ['preview', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const output = () => `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no URL printed within 10 s\n${output()}`));
    }, 10_000);
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /^kinesis-batch preview: (http:\/\/127\.0\.0\.1:(\d+)\/)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], port: Number(m[2]), exited, output });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`preview exited (${code ?? signal}) before printing its URL\n${output()}`));
    });
  });
}

/** A GET with the path sent exactly as given (no client-side normalization of "..", unlike a browser). */
function rawGet(port, requestPath, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: requestPath, method, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  dir = await freshProject('preview', { packageJson: { type: 'module' } });
  installed = path.join(dir, 'node_modules', 'kinesis-batch');
  server = await startPreview();
  browser = await launchChromium({ home: tempDir('chromium-home') });
});

after(async () => {
  await browser?.close();
  server?.child.kill('SIGKILL');
  cleanup();
});

test('the tarball ships the page (www/ without a second copy of the wasm)', async () => {
  const { files } = await packOnce();
  const page = files.filter((f) => f.startsWith('www/')).sort();
  for (const f of ['www/index.html', 'www/app.js', 'www/worker.js', 'www/input.js', 'www/stats.js', 'www/sw.js']) {
    assert.ok(page.includes(f), `${f} in the tarball: ${page.join(', ')}`);
  }
  assert.ok(page.includes('www/style.css'));
  assert.deepEqual(
    files.filter((f) => f.endsWith('.wasm')),
    ['wasm/kinesis_batch_bg.wasm'],
  );
  // The installed page is www/ as tests/www tests it, byte for byte.
  const www = path.join(repoRoot, 'www');
  for (const name of readdirSync(path.join(installed, 'www'))) {
    assert.ok(existsSync(path.join(www, name)), `www/${name} comes from www/`);
    assert.ok(
      readFileSync(path.join(installed, 'www', name)).equals(readFileSync(path.join(www, name))),
      `www/${name} differs from the packed page: run make build`,
    );
  }
});

test('the page from the installed package plans pasted NDJSON records in Chromium', async () => {
  const lines = [
    '{"id": "a", "n": 1}',
    '{"id": "b", "n": 2}',
    '',
    '{"n": 3}',
    '{"id": "c", "n": 4, "s": "ü"}',
    'not json',
    '{"id": "a", "n": 5}',
    '{"id": "d", "n": 6}',
  ];
  const context = await browser.newContext();
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(server.url);
    await page.waitForSelector('html[data-ready=true]', { timeout: 20_000 });
    await page.check('#key-field');
    await page.fill('#identifier', 'id');
    await page.fill('#maxBatchSize', '2');
    await page.check('#shards-even');
    await page.fill('#shardCount', '2');
    await page.fill('#paste', lines.join('\n'));
    await page.click('#plan');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, {
      timeout: 20_000,
      polling: 100,
    });
    const shown = await page.evaluate(() => {
      const num = (id) => Number(document.getElementById(id)?.dataset.value);
      return {
        state: document.body.dataset.state,
        error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
        records: num('sum-records'),
        accepted: num('sum-accepted'),
        rejected: num('sum-rejected'),
        requests: num('sum-requests'),
        bytes: num('sum-bytes'),
        text: document.getElementById('summary').textContent,
        rejectedRows: [...document.querySelectorAll('#rejected-table tbody tr')].map((tr) => [
          Number(tr.dataset.line),
          tr.dataset.code,
        ]),
        batches: [...document.querySelectorAll('#batches-table tbody tr')].map((tr) => Number(tr.dataset.records)),
      };
    });
    assert.equal(shown.state, 'done', shown.error);

    // What the installed package itself plans for the same records (each a line as written).
    const { planBatches } = await import(pathToFileURL(path.join(installed, 'node.js')).href);
    const valid = lines.filter((l) => l.trim() !== '' && l !== 'not json');
    const planned = planBatches(valid, { partitionKeyIdentifier: 'id', maxBatchSize: 2 });
    const accepted = planned.batches.reduce((n, b) => n + b.records, 0);
    assert.equal(accepted, 5);
    assert.equal(planned.batches.length, 3);

    assert.equal(shown.records, 7, 'records (non-empty lines)');
    assert.equal(shown.accepted, accepted);
    assert.equal(shown.rejected, 2);
    assert.equal(shown.requests, planned.batches.length);
    assert.equal(
      shown.bytes,
      planned.batches.reduce((n, b) => n + b.bytes, 0),
    );
    assert.deepEqual(
      shown.batches,
      planned.batches.map((b) => b.records),
    );
    assert.deepEqual(shown.rejectedRows, [
      [4, 'MissingPartitionKey'],
      [6, 'InvalidJson'],
    ]);
    assert.match(shown.text, /Records\s*7(?!\d)/);
    assert.match(shown.text, /PutRecords requests\s*3(?!\d)/);
    assert.deepEqual(errors, []);
    // Everything the page loaded came from the preview server.
    const origin = new URL(server.url).origin;
    const elsewhere = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:'));
    assert.deepEqual(elsewhere, []);
    assert.ok(requests.includes(`${origin}/vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm`), requests.join('\n'));
  } finally {
    await context.close();
  }
});

test('Content-Types, the package wasm as the vendor file, no listing, no path traversal', async () => {
  const types = {
    '/': 'text/html',
    '/index.html': 'text/html',
    '/app.js': 'text/javascript',
    '/sw.js': 'text/javascript',
    '/style.css': 'text/css',
    '/vendor/kinesis-batch/core.js': 'text/javascript',
    '/vendor/kinesis-batch/wasm/kinesis_batch.js': 'text/javascript',
    '/vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm': 'application/wasm',
  };
  for (const [p, type] of Object.entries(types)) {
    const r = await rawGet(server.port, p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'].split(';')[0], type, p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
  }
  const wasm = await rawGet(server.port, '/vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm');
  assert.ok(wasm.body.equals(readFileSync(path.join(installed, 'wasm', 'kinesis_batch_bg.wasm'))));
  const core = await rawGet(server.port, '/vendor/kinesis-batch/core.js');
  assert.ok(core.body.equals(readFileSync(path.join(installed, 'core.js'))));

  for (const p of [
    '/../package.json',
    '/%2e%2e/package.json',
    '/..%2fpackage.json',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/vendor/kinesis-batch/../../package.json',
    '/vendor/kinesis-batch/../../../package.json',
    '/%5c..%5cpackage.json',
    '/package.json',
    '/node.js',
    '/vendor/kinesis-batch/node.js',
    '/vendor/',
    '/vendor/kinesis-batch/',
    '/vendor',
    '/index.html%00',
  ]) {
    const r = await rawGet(server.port, p);
    assert.equal(r.status, 404, `${p}: ${r.body.toString().slice(0, 200)}`);
    assert.ok(!r.body.toString().includes('"name"'), p);
  }
  assert.equal((await rawGet(server.port, '/', 'POST')).status, 405);
  const head = await rawGet(server.port, '/index.html', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers['content-length']), readFileSync(path.join(installed, 'www', 'index.html')).length);
});

test('SIGTERM and SIGINT stop it with exit status 0', async () => {
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.output());
  const second = await startPreview(['--port', '0', '--host', '127.0.0.1']);
  assert.equal((await rawGet(second.port, '/')).status, 200);
  second.child.kill('SIGINT');
  assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());
});
