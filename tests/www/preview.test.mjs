// The batch preview page (www/) in headless Debian Chromium, served from 127.0.0.1. A generated
// 50,000-record NDJSON sample with known bad lines is loaded into the page, and what the page
// shows is compared with the package's planBatches, shardIndexFor and hashKeyOf run in Node on
// the same file, each record being its text as written (as the CLI takes a line). Screenshots
// and downloaded plans go to tests/artifacts/www/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startStaticServer } from './static-server.mjs';
import {
  artifacts,
  wwwDir,
  sampleLines,
  writeLines,
  oracleNdjson,
  oracleFor,
  shardTotals,
  evenShard,
  rangeShard,
  evenShardIds,
  hotShards,
  hashKeyOf,
  shardIndexFor,
  openPage,
  setSettings,
  waitPlanned,
  downloadPlan,
  fmt,
  dataBytes,
  checkJson,
  resolveLimits,
  SAMPLE_MAX_RECORD_BYTES,
  TWO_128,
  listedShard,
  servePage,
  stopPage,
} from './support.mjs';

let server, browser, dir, sampleFile, sample, outside;
const requests = []; // every request of every page in this file
const outsideHits = [];
const ownOrigins = new Set(); // the origins the pages were served from

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kb-www-'));
  sample = sampleLines();
  sampleFile = path.join(dir, 'sample-50k.ndjson');
  await writeLines(sampleFile, sample.lines);
  ({ server, browser } = await servePage());
  ownOrigins.add(server.origin);
  // Another origin on this machine: the page must never reach it.
  outside = http.createServer((req, res) => {
    outsideHits.push(req.url);
    res.writeHead(200, { 'access-control-allow-origin': '*' });
    res.end('reached');
  });
  await new Promise((resolve) => outside.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  await stopPage({ server, browser });
  await new Promise((resolve) => (outside ? outside.close(resolve) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const IDENTIFIER_SETTINGS = {
  identifier: 'id',
  maxBatchSize: 500,
  maxRecordBytes: SAMPLE_MAX_RECORD_BYTES,
  maxRequestBytes: 150000,
  shardCount: 8,
  rate: 5000,
};
const identifierOptions = {
  partitionKeyIdentifier: 'id',
  maxBatchSize: 500,
  maxRecordBytes: SAMPLE_MAX_RECORD_BYTES,
  maxRequestBytes: 150000,
};

function assertRejected(shown, expected) {
  assert.equal(shown.length, expected.length, 'number of rejected rows');
  shown.forEach((row, i) => {
    const want = expected[i];
    assert.equal(row.line, want.line, `rejected row ${i}: line`);
    assert.equal(row.lineText, fmt(want.line), `rejected row ${i}: shown line number`);
    assert.equal(row.code, want.code, `line ${want.line}: code`);
    // The oracle decides invalid JSON with Node's JSON.parse, whose messages are not the core's;
    // the page's InvalidJson messages are checked against checkJson in their own test.
    if (want.message !== null) assert.equal(row.message, want.message, `line ${want.line}: message`);
    else assert.ok(row.message.length > 0, `line ${want.line}: a parse message`);
  });
}

function assertSummary(shown, oracle) {
  assert.equal(shown.records, oracle.records, 'records');
  assert.equal(shown.accepted, oracle.accepted, 'accepted');
  assert.equal(shown.rejected, oracle.rejected.length, 'rejected');
  assert.equal(shown.requests, oracle.result.batches.length, 'requests');
  assert.equal(shown.bytes, oracle.bytes, 'bytes');
  assert.match(shown.text, new RegExp(`Records\\s+${fmt(oracle.records)}`));
  assert.match(shown.text, new RegExp(`PutRecords requests\\s+${fmt(oracle.result.batches.length)}`));
}

function assertBatches(exported, oracle, shardIds, shardOf) {
  assert.equal(exported.batches.length, oracle.result.batches.length);
  exported.batches.forEach((b, i) => {
    const want = oracle.result.batches[i];
    assert.equal(b.records, want.records, `batch ${i} records`);
    assert.equal(b.bytes, want.bytes, `batch ${i} bytes`);
    assert.deepEqual(
      b.lines,
      want.indices.map((x) => oracle.payloadLines[x]),
      `batch ${i} lines`,
    );
    if (shardOf) {
      assert.deepEqual(b.partitionKeys, want.partitionKeys, `batch ${i} keys`);
    }
    const of = shardOf ?? ((_key) => null);
    b.partitionKeys.forEach((key, j) => {
      const expected = shardOf ? shardIds[of(key)] : null;
      if (expected !== null) assert.equal(b.shards[j], expected, `batch ${i} record ${j} shard`);
    });
  });
}

async function shoot(page, name, selector) {
  if (selector) await page.locator(selector).screenshot({ path: path.join(artifacts, `${name}.png`) });
  else await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

async function planFile(page, file, settings) {
  await setSettings(page, settings);
  await page.setInputFiles('#file', file);
  return waitPlanned(page);
}

test('the sample: the known bad lines are what the package rejects', () => {
  const oracle = oracleNdjson(sample.lines, identifierOptions);
  assert.equal(oracle.records, 50000);
  assert.deepEqual(
    oracle.rejected.map((r) => [r.line, r.code]),
    [...sample.bad].sort((a, b) => a[0] - b[0]),
  );
});

test('keys from a field, even shards: the page shows exactly what planBatches and shardIndexFor compute', async (t) => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const shown = await planFile(page, sampleFile, IDENTIFIER_SETTINGS);
    t.diagnostic(
      `50,000-record sample (${fmt(sample.lines.join('\n').length)} bytes) planned in the page in ${shown.summary.timeMs.toFixed(0)} ms`,
    );
    const oracle = oracleNdjson(sample.lines, identifierOptions);
    assertSummary(shown.summary, oracle);
    assertRejected(shown.rejected, oracle.rejected);
    // Both kinds of closed request occur in this sample.
    const [byCount, byBytes] = shown.summary.closed.split(',').map(Number);
    assert.equal(byCount, oracle.result.batches.filter((b) => b.records === 500).length);
    assert.ok(byCount > 0 && byBytes > 0, `closed by count ${byCount}, by bytes ${byBytes}`);
    // The first page of the requests table.
    assert.deepEqual(
      shown.batches,
      oracle.result.batches.slice(0, 25).map((b) => ({ records: b.records, bytes: b.bytes })),
    );

    const ids = evenShardIds(8);
    const totals = shardTotals(oracle, 8, evenShard(8));
    const hot = hotShards(totals, oracle.accepted, 5000);
    assert.deepEqual(
      shown.shards.map((s) => s.id),
      ids,
    );
    assert.deepEqual(
      shown.shards.map((s) => s.records),
      totals.counts,
    );
    assert.deepEqual(
      shown.shards.map((s) => s.bytes),
      totals.bytes,
    );
    assert.deepEqual(
      shown.shards.map((s) => s.cells[2]),
      totals.counts.map(fmt),
      'the visible counts',
    );
    assert.deepEqual(
      shown.shards.map((s) => s.hot),
      hot,
    );
    assert.ok(hot.includes(true) && hot.includes(false), `the hot customer makes one shard hot: ${hot}`);
    assert.equal(Number(shown.hotSummary), hot.filter(Boolean).length);
    for (const s of shown.shards) if (s.hot) assert.match(s.cells[5], /^HOT/);

    // The records/s and MiB/s per shard at the chosen rate.
    shown.shards.forEach((s, i) => {
      assert.equal(
        s.cells[3],
        new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 }).format(
          (5000 * totals.counts[i]) / oracle.accepted,
        ),
      );
      assert.equal(
        s.cells[4],
        new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 }).format(
          (5000 * totals.bytes[i]) / oracle.accepted / 1048576,
        ),
      );
    });
    // Lowering the rate is pure arithmetic on the page: no shard is hot at 100 records/s.
    await page.fill('#rate', '100');
    await page.waitForFunction(() => document.getElementById('hot-summary').dataset.hot === '0');
    await page.fill('#rate', '5000');
    await page.waitForFunction(
      (n) => document.getElementById('hot-summary').dataset.hot === String(n),
      hot.filter(Boolean).length,
    );

    // The exported plan: every batch, line and key, and each record's shard.
    const exported = await downloadPlan(page, 'plan-field-keys.json');
    assertBatches(exported, oracle, ids, evenShard(8));
    assert.deepEqual(
      exported.rejected.map((r) => [r.line, r.code]),
      oracle.rejected.map((r) => [r.line, r.code]),
    );
    assert.deepEqual(
      exported.shards.map((s) => [s.shardId, s.records, s.hot]),
      ids.map((id, i) => [id, totals.counts[i], hot[i]]),
    );

    // The body of request 3 as the library would send it.
    await page.fill('#body-batch', '3');
    await page.fill('#body-count', '7');
    await page.click('#body-form button[type=submit]');
    await page.waitForFunction(() => JSON.parse(document.getElementById('body').dataset.raw).Records.length === 7);
    const body = JSON.parse(await page.getAttribute('#body', 'data-raw'));
    const batch = oracle.result.batches[2];
    assert.equal(body.StreamName, 'my-stream');
    assert.equal(body.Records.length, 7);
    const rows = await page.$$eval('#body-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((c) => c.innerText)),
    );
    body.Records.forEach((r, j) => {
      const payload = oracle.payloads[batch.indices[j]];
      assert.deepEqual(Object.keys(r), ['Data', 'PartitionKey']);
      assert.equal(Buffer.from(r.Data, 'base64').toString('utf8'), payload, 'the data is the line as written');
      assert.equal(r.PartitionKey, batch.partitionKeys[j]);
      assert.equal(rows[j][0], fmt(oracle.payloadLines[batch.indices[j]]));
      assert.equal(rows[j][2], hashKeyOf(r.PartitionKey), 'hash key shown');
      assert.equal(rows[j][3], ids[shardIndexFor(r.PartitionKey, 8)], 'shard shown');
      assert.equal(rows[j][4], fmt(dataBytes(payload)));
    });

    for (const [name, selector] of [
      ['summary', '#summary-view'],
      ['shards', '#shards-view'],
      ['rejected', '#rejected-view'],
      ['requests', '#batches-view'],
      ['body', '#body-view'],
    ]) {
      await shoot(page, `1280-${name}`, selector);
    }
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(artifacts, '1280x800-viewport.png') });
    await shoot(page, '1280-full');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 1280 px (overflow ${overflow})`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('real hash-key ranges from a pasted ListShards answer: counts equal hashKeyOf placed in those ranges', async () => {
  // Uneven open shards after a split, plus the closed parent, which takes no writes.
  const cut1 = TWO_128 / 2n - 1n,
    cut2 = (TWO_128 * 3n) / 4n - 1n,
    max = TWO_128 - 1n;
  const listShards = {
    Shards: [
      listedShard('shardId-000000000000', 0n, max, true),
      listedShard('shardId-000000000003', cut2 + 1n, max),
      listedShard('shardId-000000000001', 0n, cut1),
      listedShard('shardId-000000000002', cut1 + 1n, cut2),
    ],
  };
  const ranges = [
    { id: 'shardId-000000000001', start: 0n, end: cut1 },
    { id: 'shardId-000000000002', start: cut1 + 1n, end: cut2 },
    { id: 'shardId-000000000003', start: cut2 + 1n, end: max },
  ];
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const shown = await planFile(page, sampleFile, {
      ...IDENTIFIER_SETTINGS,
      shardList: JSON.stringify(listShards, null, 2),
    });
    const oracle = oracleNdjson(sample.lines, identifierOptions);
    assertSummary(shown.summary, oracle);
    const totals = shardTotals(oracle, 3, rangeShard(ranges));
    assert.deepEqual(
      shown.shards.map((s) => s.id),
      ranges.map((r) => r.id),
    );
    assert.deepEqual(
      shown.shards.map((s) => s.records),
      totals.counts,
    );
    assert.deepEqual(
      shown.shards.map((s) => s.bytes),
      totals.bytes,
    );
    assert.deepEqual(
      shown.shards.map((s) => s.cells[1]),
      ['50%', '25%', '25%'],
      'hash-key shares',
    );
    assert.deepEqual(
      shown.shards.map((s) => s.hot),
      hotShards(totals, oracle.accepted, 5000),
    );
    assert.match(await page.innerText('#shard-warnings'), /1 closed shard .* left out/);
    const exported = await downloadPlan(page, 'plan-list-shards.json');
    assertBatches(
      exported,
      oracle,
      ranges.map((r) => r.id),
      rangeShard(ranges),
    );

    // Switching to an even split re-maps the planned keys without planning again.
    await page.check('#shards-even');
    await page.fill('#shardCount', '3');
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#shards-table tbody tr').length === 3 &&
        document.querySelector('#shards-table tbody tr').dataset.shardId === 'shardId-000000000000',
    );
    const even = shardTotals(oracle, 3, evenShard(3));
    const counts = await page.$$eval('#shards-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.records)));
    assert.deepEqual(counts, even.counts);

    // A malformed answer is reported, not planned with.
    await page.check('#shards-ranges');
    await page.fill(
      '#shardList',
      '{"Shards": [{"ShardId": "a", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "99"}}, {"ShardId": "b", "HashKeyRange": {"StartingHashKey": "50", "EndingHashKey": "200"}}]}',
    );
    await page.waitForFunction(() => !document.getElementById('error').hidden);
    assert.match(await page.innerText('#error'), /overlap/);
    await shoot(page, '1280-shards-ranges', '#shards-view');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('random UUID keys (the default): exact batches and rejections, a statistical shard spread, keys placed by shardIndexFor', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const shown = await planFile(page, sampleFile, { shardCount: 4, rate: 3000, stream: 'orders-stream' });
    const oracle = oracleNdjson(sample.lines, {});
    // UUID keys are all 36 bytes, so the packing is deterministic even though the keys are not.
    assertSummary(shown.summary, oracle);
    assertRejected(shown.rejected, oracle.rejected);
    assert.ok(
      oracle.rejected.every((r) => r.code === 'InvalidJson'),
      'with UUID keys only unparsable lines are rejected',
    );
    const accepted = oracle.accepted;
    const sum = shown.shards.reduce((s, x) => s + x.records, 0);
    assert.equal(sum, accepted);
    // Each record picks a shard with probability 1/4: within 6 sigma of the mean.
    const sigma = Math.sqrt(accepted * 0.25 * 0.75);
    for (const s of shown.shards)
      assert.ok(Math.abs(s.records - accepted / 4) < 6 * sigma, `${s.id}: ${s.records} records`);
    assert.match(await page.innerText('#shards-note'), /random UUIDs/);
    // Expected rates: 3000 × 1/4 = 750 records/s per shard; none hot.
    assert.deepEqual(
      shown.shards.map((s) => s.cells[3]),
      ['750', '750', '750', '750'],
    );
    assert.equal(shown.hotSummary, '0');

    const exported = await downloadPlan(page, 'plan-uuid-keys.json');
    assertBatches(exported, oracle, null, null);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const ids = evenShardIds(4);
    const counts = [0, 0, 0, 0];
    for (const b of exported.batches) {
      b.partitionKeys.forEach((key, j) => {
        assert.match(key, uuid);
        const s = shardIndexFor(key, 4);
        assert.equal(b.shards[j], ids[s]);
        counts[s]++;
      });
    }
    assert.deepEqual(
      shown.shards.map((s) => s.records),
      counts,
      'the page counted the keys it planned',
    );

    // The body shows those same random keys, with their hash keys.
    const body = JSON.parse(shown.body);
    assert.equal(body.StreamName, 'orders-stream');
    body.Records.forEach((r, j) => {
      assert.equal(r.PartitionKey, exported.batches[0].partitionKeys[j]);
      assert.equal(shown.bodyRows[j][2], hashKeyOf(r.PartitionKey));
    });
    await shoot(page, '1280-shards-uuid', '#shards-view');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('paste, drop and the JSON array format give what planBatches gives', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    // Pasted NDJSON.
    const pasted = [
      '{"id": "a", "n": 1}',
      '',
      '{"id": "b", "n": 2}',
      '{"n": 3}',
      'nope',
      '{"id": "a", "n": 4, "s": "ü"}',
    ];
    await setSettings(page, { identifier: 'id', maxBatchSize: 2, shardCount: 2 });
    await page.fill('#paste', pasted.join('\n'));
    await page.click('#plan');
    let shown = await waitPlanned(page);
    let oracle = oracleNdjson(pasted, { partitionKeyIdentifier: 'id', maxBatchSize: 2 });
    assertSummary(shown.summary, oracle);
    assertRejected(shown.rejected, oracle.rejected);
    assert.deepEqual(
      shown.rejected.map((r) => [r.line, r.code]),
      [
        [4, 'MissingPartitionKey'],
        [5, 'InvalidJson'],
      ],
    );

    // A multi-line JSON array with a bad element, dropped on the page.
    const elements = [
      { id: 'x', v: [1, { deep: ']' }] },
      { id: 'y', s: 'comma, "quoted"' },
      null,
      { id: 'z' },
      { id: 'x', big: 'é'.repeat(50) },
    ];
    const arrayText =
      '[\n' +
      elements
        .map((e) => '  ' + JSON.stringify(e))
        .join(',\n')
        .replace('{"id":"z"}', '{"id": z}') +
      '\n]\n';
    await page.evaluate((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], 'dropped.json', { type: 'application/json' }));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    }, arrayText);
    await page.waitForFunction(
      () =>
        document.getElementById('sum-input')?.textContent.startsWith('dropped.json') &&
        document.body.dataset.state === 'done',
    );
    shown = await waitPlanned(page);
    // Node: the valid elements in order (each its text as written in the array), the invalid one
    // at its line.
    const payloads = elements.filter((_, i) => i !== 3).map((e) => JSON.stringify(e));
    const lines = [2, 3, 4, 6];
    oracle = oracleFor(payloads, lines, [5], { partitionKeyIdentifier: 'id', maxBatchSize: 2 });
    assertSummary(shown.summary, oracle);
    assertRejected(shown.rejected, oracle.rejected);
    assert.match(shown.summary.text, /JSON array/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** Loads `text` into the page as a chosen file (a file keeps "\r\n"; a textarea would not). */
async function planText(page, text, settings, name = 'records.ndjson') {
  await setSettings(page, settings);
  await page.setInputFiles('#file', { name, mimeType: 'application/x-ndjson', buffer: Buffer.from(text, 'utf8') });
  return waitPlanned(page);
}

/** The request body the page shows, as sent: [{ data (UTF-8 text), key }]. */
function bodyRecords(shown) {
  return JSON.parse(shown.body).Records.map((r) => ({
    data: Buffer.from(r.Data, 'base64').toString('utf8'),
    key: r.PartitionKey,
  }));
}

test('each record is its line as written: sizes, partition keys and the request body come from the raw text', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const lines = [
      '{"id": 1.0,  "x" : "é"}', // key "1.0"; spaces and "é" are data
      '  {"id": "a", "n": 1e2}  ', // spaces around the value are data too
      '{"id": "caf\\u00e9", "big": 100000000000000000000001}', // an escape in the key; a long number
      '{"id": 1.0, "crlf": true}\r', // "\r\n" ends the line: "\r" is not data
      '{"id":1,"x":"é"}', // line 1 as JSON.stringify writes it: another key, fewer bytes
    ];
    const text = `${lines.join('\n')}\n`;
    const options = { partitionKeyIdentifier: 'id' };
    const shown = await planText(page, text, { identifier: 'id', shardCount: 2 });
    const oracle = oracleNdjson(text.split('\n'), options);
    assert.deepEqual(oracle.payloads, [lines[0], lines[1], lines[2], lines[3].slice(0, -1), lines[4]]);
    const keys = ['1.0', 'a', 'café', '1.0', '1'];
    assertSummary(shown.summary, oracle);
    assert.equal(
      shown.summary.bytes,
      oracle.payloads.reduce((sum, raw, j) => sum + dataBytes(raw) + Buffer.byteLength(keys[j]), 0),
      'data bytes are the UTF-8 lengths of the lines as written, keys as read from them',
    );
    const exported = await downloadPlan(page, 'plan-as-written.json');
    assert.deepEqual(
      exported.batches.flatMap((b) => b.partitionKeys),
      keys,
    );
    assertBatches(exported, oracle, evenShardIds(2), evenShard(2));
    // Per-shard bytes (the MiB/s column) add up the same sizes.
    assert.deepEqual(
      shown.shards.map((s) => s.bytes),
      shardTotals(oracle, 2, evenShard(2)).bytes,
    );
    // The body sends each line as written, with the key planned for it.
    assert.deepEqual(
      bodyRecords(shown),
      oracle.payloads.map((data, j) => ({ data, key: oracle.result.batches[0].partitionKeys[j] })),
    );
    assert.deepEqual(
      shown.bodyRows.map((row) => row[4]),
      oracle.payloads.map((raw) => fmt(dataBytes(raw))),
      'data bytes shown per record',
    );
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('numbers with more digits than a double holds are keys exactly as written', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const lines = ['{"id": 12345678901234567890}', '{"id": 12345678901234567891}'];
    await setSettings(page, { identifier: 'id', shardCount: 4 });
    await page.fill('#paste', lines.join('\n'));
    await page.click('#plan');
    const shown = await waitPlanned(page);
    const keys = ['12345678901234567890', '12345678901234567891'];
    const oracle = oracleNdjson(lines, { partitionKeyIdentifier: 'id' });
    assert.deepEqual(oracle.result.batches[0].partitionKeys, keys);
    const exported = await downloadPlan(page, 'plan-big-numbers.json');
    assert.deepEqual(exported.batches[0].partitionKeys, keys, 'two keys, each with its digits');
    assertSummary(shown.summary, oracle);
    assert.deepEqual(
      exported.batches[0].shards,
      keys.map((k) => evenShardIds(4)[shardIndexFor(k, 4)]),
    );
    assert.deepEqual(
      bodyRecords(shown).map((r) => r.key),
      keys,
    );
    const hashKeys = shown.bodyRows.map((row) => row[2]);
    assert.deepEqual(
      hashKeys,
      keys.map((k) => hashKeyOf(k)),
    );
    assert.notEqual(hashKeys[0], hashKeys[1]);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('InvalidJson: the core decides what is JSON (checkJson), with its code and messages, in NDJSON and in an array', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    const lines = [
      '{"id": "a"}',
      '{"id": "b",', // cut short
      '',
      "{'id': 'c'}",
      '{"id": "d"} {"id": "e"}', // two values
      '{"id": "f"}',
    ];
    await page.fill('#paste', lines.join('\n'));
    await page.click('#plan');
    let shown = await waitPlanned(page);
    const expected = lines.flatMap((line, i) => {
      const error = line.trim() === '' ? undefined : checkJson(Buffer.from(line));
      return error ? [{ line: i + 1, code: 'InvalidJson', message: error.message }] : [];
    });
    assert.equal(expected.length, 3);
    assert.deepEqual(
      shown.rejected.map(({ line, code, message }) => ({ line, code, message })),
      expected,
    );
    assert.equal(shown.summary.records, 5);
    assert.equal(shown.summary.accepted, 2);
    assert.match(shown.summary.text, /3 not valid JSON/);
    assert.match(await page.innerText('#rejected-note'), /InvalidJson 3/);
    assert.deepEqual(await page.$$eval('#rejected-code option', (options) => options.map((o) => o.value)), [
      '',
      'InvalidJson',
    ]);

    // A JSON array: each element is checked on its own, and reported at the line it starts on.
    const arrayText = '[\n  {"id": "x"},\n  {"id": z},\n  {"id":\n    "y"},\n  [1, 2,]\n]\n';
    shown = await planText(page, arrayText, { identifier: 'id' }, 'records.json');
    assert.deepEqual(
      shown.rejected.map(({ line, code, message }) => ({ line, code, message })),
      [
        { line: 3, code: 'InvalidJson', message: checkJson(Buffer.from('{"id": z}')).message },
        { line: 6, code: 'InvalidJson', message: checkJson(Buffer.from('[1, 2,]')).message },
      ],
    );
    const oracle = oracleFor(['{"id": "x"}', '{"id":\n    "y"}'], [2, 4], [3, 6], { partitionKeyIdentifier: 'id' });
    assertSummary(shown.summary, oracle);
    assert.match(shown.summary.text, /JSON array/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("the page's defaults and per-shard limits are the core's (resolveLimits), not its own", async () => {
  // A copy of the page whose core reports other defaults and per-shard limits: the page must show
  // and use those. The plan itself is still the real core's.
  const patchedDir = path.join(dir, 'www-patched-limits');
  await cp(wwwDir, patchedDir, { recursive: true });
  // The glue is minified, so it is wrapped rather than edited: the page loads a module that
  // re-exports the real glue (moved aside) with its own resolveLimits, which wins over the star
  // export of the same name.
  const wasmDir = path.join(patchedDir, 'vendor', 'kinesis-batch', 'wasm');
  await rename(path.join(wasmDir, 'kinesis_batch.js'), path.join(wasmDir, 'kinesis_batch_real.js'));
  await writeFile(
    path.join(wasmDir, 'kinesis_batch.js'),
    `export * from './kinesis_batch_real.js';
export { default } from './kinesis_batch_real.js';
import { resolveLimits as coreResolveLimits } from './kinesis_batch_real.js';
export function resolveLimits(options) {
  const limits = coreResolveLimits(options);
  return {
    ...limits,
    maxBatchSize: options?.maxBatchSize === undefined ? 3 : limits.maxBatchSize,
    shardRecordsPerSecond: 7,
    shardBytesPerSecond: 3 * 1048576,
  };
}
`,
  );
  const patched = await startStaticServer({ root: patchedDir });
  ownOrigins.add(patched.origin);
  const { page, context, errors } = await openPage(browser, patched.origin, { requests });
  try {
    const real = resolveLimits({});
    assert.equal(await page.inputValue('#maxBatchSize'), '3');
    assert.equal(await page.inputValue('#maxRecordBytes'), String(real.maxRecordBytes));
    assert.equal(await page.inputValue('#maxRequestBytes'), String(real.maxRequestBytes));
    assert.match(await page.innerText('.foot'), /Per-shard limits: 7 records\/s and 3 MiB\/s\./);

    // 10 records, 3 per request, 8 of them on one shard: at 10 records/s for the stream that shard
    // takes 8 records/s, over the 7 the core says; the other takes 2.
    const busy = 'k0';
    let quiet = 1;
    while (shardIndexFor(`k${quiet}`, 2) === shardIndexFor(busy, 2)) quiet++;
    const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: i < 8 ? busy : `k${quiet}`, n: i }));
    await setSettings(page, { identifier: 'id', shardCount: 2, rate: 10 });
    await page.fill('#paste', lines.join('\n'));
    await page.click('#plan');
    const shown = await waitPlanned(page);
    const oracle = oracleNdjson(lines, { partitionKeyIdentifier: 'id', maxBatchSize: 3 });
    assertSummary(shown.summary, oracle);
    assert.deepEqual(
      shown.batches.map((b) => b.records),
      [3, 3, 3, 1],
    );
    assert.equal(shown.summary.closed, '3,0,1', 'full by count at the core-given maxBatchSize');
    const totals = shardTotals(oracle, 2, evenShard(2));
    const hot = totals.counts.map((c) => (10 * c) / oracle.accepted > 7);
    assert.deepEqual([...hot].sort(), [false, true], `one shard over 7 records/s: ${totals.counts}`);
    assert.deepEqual(
      shown.shards.map((s) => s.hot),
      hot,
    );
    assert.match(await page.innerText('#shards-view figcaption'), /limit 7 records\/s/);
    for (const s of shown.shards) if (s.hot) assert.match(s.cells[5], /^HOT: over 7 records\/s$/);

    // A limit out of range is refused by the core, with its message, on the field it names.
    await page.fill('#maxBatchSize', String(real.maxBatchSize + 1));
    await page.click('#plan');
    await page.waitForFunction(() => !document.getElementById('error').hidden);
    let message;
    try {
      resolveLimits({ maxBatchSize: real.maxBatchSize + 1 });
    } catch (error) {
      message = error.message;
    }
    assert.ok(message, 'the core refuses it');
    assert.equal(await page.innerText('#error'), message);
    assert.equal(await page.getAttribute('#maxBatchSize', 'aria-invalid'), 'true');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await patched.stop();
  }
});

test('Cancel stops a plan in progress; planning again works', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    await setSettings(page, IDENTIFIER_SETTINGS);
    // About 60 MB, made in the page and dropped: it takes seconds to plan even on a fast machine.
    await page.evaluate(() => {
      const line = JSON.stringify({ id: 'k', pad: 'x'.repeat(200) }) + '\n';
      const dt = new DataTransfer();
      dt.items.add(new File([line.repeat(280000)], 'big.ndjson'));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => document.getElementById('progress').value > 0);
    await page.click('#cancel', { timeout: 5000 });
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Cancelled.');
    assert.equal(await page.getAttribute('body', 'data-state'), 'idle');
    assert.equal(await page.isHidden('#results'), true, 'no partial results');
    await page.setInputFiles('#file', sampleFile);
    const shown = await waitPlanned(page);
    assert.equal(shown.summary.records, 50000);
    assert.equal(shown.summary.rejected, sample.bad.size);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('keyboard only: paste, choose the key field, plan, open a request body', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  const tabTo = async (id, limit = 80) => {
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((want) => document.activeElement?.id === want, id)) return;
    }
    assert.fail(`#${id} is not reachable with Tab`);
  };
  try {
    await tabTo('paste');
    await page.keyboard.type('{"id": "k1", "n": 1}\n{"id": "k2", "n": 2}\n{"n": 3}\n');
    await tabTo('key-uuid');
    await page.keyboard.press('ArrowDown'); // the radio group: to "from a field"
    assert.equal(await page.evaluate(() => document.getElementById('key-field').checked), true);
    await tabTo('identifier');
    await page.keyboard.type('id');
    await page.keyboard.press('Enter'); // submits the settings form
    const shown = await waitPlanned(page);
    assert.equal(shown.summary.accepted, 2);
    assert.deepEqual(
      shown.rejected.map((r) => [r.line, r.code]),
      [[3, 'MissingPartitionKey']],
    );
    // The first request's "Body" button, by keyboard; focus moves to the body view.
    await tabTo('download');
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(
        () => document.activeElement?.getAttribute('aria-label') === 'Show the body of request 1',
      );
    }
    assert.ok(found, 'the Body button is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'body-heading');
    const focusVisible = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(focusVisible, 'none', 'focus is visible');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('phone width: readable without horizontal scrolling', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, {
    requests,
    viewport: { width: 390, height: 844 },
  });
  try {
    await planFile(page, sampleFile, IDENTIFIER_SETTINGS);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow})`);
    // Tables turn into cards: none needs sideways scrolling either.
    const wide = await page.$$eval('.table-wrap', (wraps) =>
      wraps.filter((w) => w.offsetParent && w.scrollWidth > w.clientWidth + 1).map((w) => w.querySelector('table').id),
    );
    assert.deepEqual(wide, []);
    // Text stays at a readable size.
    const smallest = await page.evaluate(() =>
      Math.min(
        ...[...document.querySelectorAll('td, th, p, label, dd, dt')]
          .filter((e) => e.offsetParent && e.innerText.trim())
          .map((e) => parseFloat(getComputedStyle(e).fontSize)),
      ),
    );
    assert.ok(smallest >= 11, `smallest text ${smallest}px`);
    await page.screenshot({ path: path.join(artifacts, '390x844-viewport.png') });
    await shoot(page, '390-full');
    for (const [name, selector] of [
      ['summary', '#summary-view'],
      ['shards', '#shards-view'],
      ['rejected', '#rejected-view'],
      ['requests', '#batches-view'],
      ['body', '#body-view'],
    ])
      await shoot(page, `390-${name}`, selector);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the Content-Security-Policy blocks other origins, in the page and in its worker', async () => {
  // This test makes off-origin attempts on purpose: they go to their own log.
  const attempts = [];
  const { page, context, errors } = await openPage(browser, server.origin, { requests: attempts });
  const failed = [];
  context.on('requestfailed', (r) => failed.push([r.url(), r.failure()?.errorText]));
  try {
    const target = `http://127.0.0.1:${outside.address().port}/probe`;
    const pageFetch = await page.evaluate(async (url) => {
      try {
        await fetch(url);
        return 'reached';
      } catch (e) {
        return `blocked: ${e.message}`;
      }
    }, target);
    const image = await page.evaluate(
      (url) =>
        new Promise((resolve) => {
          const img = new Image();
          img.onload = () => resolve('loaded');
          img.onerror = () => resolve('blocked');
          img.src = url + '.png';
        }),
      target,
    );
    const [worker] = page.workers();
    assert.ok(worker, 'the planning worker is running');
    const workerFetch = await worker.evaluate(async (url) => {
      try {
        await fetch(url);
        return 'reached';
      } catch (e) {
        return `blocked: ${e.message}`;
      }
    }, target);
    // Control: the worker can still fetch its own origin.
    const own = await worker.evaluate(async (url) => (await fetch(url)).status, server.origin + '/index.html');
    assert.match(pageFetch, /^blocked/);
    assert.equal(image, 'blocked');
    assert.match(workerFetch, /^blocked/);
    assert.equal(own, 200);
    assert.deepEqual(outsideHits, [], 'the other origin was never reached');
    assert.ok(
      failed.some(([url, why]) => url === target + '.png' && /csp/i.test(why)),
      `the image was blocked by CSP: ${JSON.stringify(failed)}`,
    );
    const csp = await page.getAttribute('meta[http-equiv=Content-Security-Policy]', 'content');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('works offline once loaded: with the server gone, a reload still plans', async () => {
  const own = await startStaticServer({ root: wwwDir });
  ownOrigins.add(own.origin);
  let stopped = false;
  const { page, context, errors } = await openPage(browser, own.origin, { requests });
  try {
    await page.waitForFunction(
      async () => (await navigator.serviceWorker.ready) && navigator.serviceWorker.controller !== null,
      null,
      { timeout: 30000 },
    );
    await own.stop();
    stopped = true;
    const refused = await fetch(own.origin + '/').then(
      () => false,
      () => true,
    );
    assert.ok(refused, 'the server is really gone');
    await page.reload();
    await page.waitForSelector('html[data-ready=true]', { timeout: 30000 });
    await page.click('#example');
    const shown = await waitPlanned(page);
    assert.equal(shown.summary.records, 2000);
    assert.equal(shown.summary.rejected, 4);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    if (!stopped) await own.stop();
  }
});

test("no request left the page's own origin", () => {
  const offOrigin = requests.filter((url) => !url.startsWith('blob:') && !ownOrigins.has(new URL(url).origin));
  assert.deepEqual(offOrigin, []);
  // The log is not empty: it saw the page, the worker's modules and the wasm the worker fetched.
  assert.ok(requests.includes(server.origin + '/'));
  assert.ok(requests.includes(server.origin + '/worker.js'));
  assert.ok(requests.includes(server.origin + '/vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm'));
  assert.deepEqual(outsideHits, []);
});
