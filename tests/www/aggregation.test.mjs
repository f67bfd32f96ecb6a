// The preview page's aggregation view in headless Debian Chromium: the same input with
// aggregation off and on (requests, Kinesis records, 25 KB payload units, bytes) and each shard's
// hottest partition keys, compared with the package's planBatches run in Node on the same file
// with `aggregate`, `maxAggregateBytes` and the same shard map (`shardCount` or the pasted
// `listShards` answer). Hot keys are also counted here independently, with shardIndexFor and
// hashKeyOf. Screenshots go to tests/artifacts/www/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  artifacts,
  prng,
  writeLines,
  oracleNdjson,
  evenShard,
  rangeShard,
  dataBytes,
  openPage,
  setSettings,
  waitPlanned,
  planBatches,
  TWO_128,
  listedShard,
  servePage,
  stopPage,
} from './support.mjs';

let server, browser, dir, file, lines;
const requests = [];

/**
 * 4,000 orders: one customer with a fifth of them, a long tail, a few 30 KB records (two payload
 * units each, too big to share an aggregate with another) and two of 60 KB (over the default
 * maxAggregateBytes: sent raw), plus two bad lines the library rejects or never sees.
 */
function orders() {
  const rand = prng(13);
  const out = [];
  for (let n = 1; n <= 4000; n++) {
    const id = rand() < 0.2 ? 'cust-0001' : `cust-${String(2 + Math.floor(rand() * 300)).padStart(4, '0')}`;
    const size = n % 997 === 0 ? 60000 : n % 251 === 0 ? 30000 : 40 + Math.floor(rand() * 400);
    out.push(JSON.stringify({ id, n, note: 'x'.repeat(size) }));
  }
  out[99] = JSON.stringify({ n: 100 }); // no id: MissingPartitionKey
  out[199] = '{"id": "cust-0002", "n": 200,'; // not JSON
  return out;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kb-www-agg-'));
  lines = orders();
  file = path.join(dir, 'orders.ndjson');
  await writeLines(file, lines);
  ({ server, browser } = await servePage());
});

after(async () => {
  await stopPage({ server, browser });
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What the aggregation view shows: the comparison rows and the per-shard table. */
function readAggregation(page) {
  return page.evaluate(() => ({
    metrics: Object.fromEntries(
      [...document.querySelectorAll('#aggregation-table tbody tr')].map((tr) => [
        tr.dataset.metric,
        { off: Number(tr.dataset.off), on: Number(tr.dataset.on), cells: [...tr.children].map((c) => c.innerText) },
      ]),
    ),
    shards: [...document.querySelectorAll('#hot-keys-table tbody tr')].map((tr) => ({
      shardId: tr.dataset.shardId,
      records: Number(tr.dataset.records),
      kinesisRecords: Number(tr.dataset.kinesisRecords),
      payloadUnits: Number(tr.dataset.payloadUnits),
      hotKeys: [...tr.querySelectorAll('li')].map((li) => ({
        partitionKey: li.dataset.key,
        records: Number(li.dataset.records),
        bytes: Number(li.dataset.bytes),
      })),
    })),
  }));
}

/** planBatches' totals, as the page labels them. */
function totals(result) {
  return {
    requests: result.requests,
    kinesisRecords: result.kinesisRecords,
    payloadUnits: result.payloadUnits,
    bytes: result.batches.reduce((s, b) => s + b.bytes, 0),
  };
}

function assertComparison(shown, off, on) {
  for (const [name, want] of Object.entries(totals(off)))
    assert.equal(shown.metrics[name].off, want, `${name} with aggregation off`);
  for (const [name, want] of Object.entries(totals(on)))
    assert.equal(shown.metrics[name].on, want, `${name} with aggregation on`);
  assert.equal(shown.metrics.requests.cells[1], new Intl.NumberFormat('en-US').format(off.requests));
}

/** The page lists shards busiest first; planBatches lists them in map order. */
function assertShards(shown, on) {
  const want = on.shards
    .map((s, i) => ({ ...s, i }))
    .sort((a, b) => b.records - a.records || a.i - b.i)
    .map(({ i, bytes, ...s }) => s);
  assert.deepEqual(shown.shards, want);
}

/** Each shard's hottest keys counted here: records and data + key bytes per key on its shard. */
function independentHotKeys(oracle, shardCount, shardOf) {
  const perShard = Array.from({ length: shardCount }, () => new Map());
  for (const b of oracle.result.batches) {
    b.partitionKeys.forEach((key, j) => {
      const m = perShard[shardOf(key)];
      const e = m.get(key) ?? { partitionKey: key, records: 0, bytes: 0 };
      e.records++;
      e.bytes += dataBytes(oracle.payloads[b.indices[j]]) + Buffer.byteLength(key, 'utf8');
      m.set(key, e);
    });
  }
  return perShard.map((m) => [...m.values()].sort((a, b) => b.records - a.records || b.bytes - a.bytes).slice(0, 5));
}

test('aggregation off and on, side by side: the numbers planBatches computes, and each shard its hottest keys', async () => {
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    await setSettings(page, { identifier: 'id', shardCount: 4 });
    await page.setInputFiles('#file', file);
    await waitPlanned(page);
    assert.equal(await page.inputValue('#maxAggregateBytes'), '51200', "the core's default");
    const oracle = oracleNdjson(lines, { partitionKeyIdentifier: 'id' });
    const off = oracle.result;
    const on = planBatches(oracle.payloads, { partitionKeyIdentifier: 'id', aggregate: true, shardCount: 4 });
    const shown = await readAggregation(page);
    assertComparison(shown, off, on);
    // Sanity of the library's answer: far fewer Kinesis records and units, the same records.
    assert.equal(off.kinesisRecords, oracle.accepted);
    assert.ok(on.kinesisRecords < off.kinesisRecords / 10, `${on.kinesisRecords} of ${off.kinesisRecords}`);
    assert.ok(on.payloadUnits < off.payloadUnits / 4, `${on.payloadUnits} of ${off.payloadUnits} units`);
    assert.equal(
      on.batches.reduce((s, b) => s + b.records, 0),
      oracle.accepted,
    );
    assert.match(shown.metrics.kinesisRecords.cells[3], /^−\d/);
    assertShards(shown, on);
    const hot = independentHotKeys(oracle, 4, evenShard(4));
    for (const [i, s] of on.shards.entries()) assert.deepEqual(s.hotKeys, hot[i], `${s.shardId} hot keys`);
    const busiest = shown.shards[0];
    assert.equal(busiest.hotKeys[0].partitionKey, 'cust-0001', 'the hot customer tops its shard');
    assert.match(
      await page.innerText('#hot-keys-table'),
      new RegExp(`cust-0001 ${new Intl.NumberFormat('en-US').format(busiest.hotKeys[0].records)} records`),
    );
    await page.locator('#aggregation-view').screenshot({ path: path.join(artifacts, '1280-aggregation.png') });

    // A smaller maxAggregateBytes redoes the aggregation without planning again.
    await page.fill('#maxAggregateBytes', '4096');
    const small = planBatches(oracle.payloads, {
      partitionKeyIdentifier: 'id',
      aggregate: true,
      shardCount: 4,
      maxAggregateBytes: 4096,
    });
    assert.ok(small.kinesisRecords > on.kinesisRecords);
    await page.waitForFunction(
      (n) => document.querySelector('#aggregation-table tr[data-metric=kinesisRecords]')?.dataset.on === String(n),
      small.kinesisRecords,
    );
    assertComparison(await readAggregation(page), off, small);

    // Out of range: the core's message, on the field.
    await page.fill('#maxAggregateBytes', '10');
    await page.waitForFunction(() => !document.getElementById('error').hidden);
    assert.match(await page.innerText('#error'), /^maxAggregateBytes: must be a whole number from 64/);
    assert.equal(await page.getAttribute('#maxAggregateBytes', 'aria-invalid'), 'true');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a pasted ListShards answer changes the grouping: aggregates and hot keys follow its ranges', async () => {
  // Two open shards of very different widths (an eighth and the rest) and a closed parent.
  const cut = TWO_128 / 8n - 1n,
    max = TWO_128 - 1n;
  const listShards = {
    Shards: [
      listedShard('shardId-000000000000', 0n, max, true),
      listedShard('shardId-000000000002', cut + 1n, max),
      listedShard('shardId-000000000001', 0n, cut),
    ],
  };
  const ranges = [
    { id: 'shardId-000000000001', start: 0n, end: cut },
    { id: 'shardId-000000000002', start: cut + 1n, end: max },
  ];
  const { page, context, errors } = await openPage(browser, server.origin, { requests });
  try {
    await setSettings(page, { identifier: 'id', shardCount: 4 });
    await page.setInputFiles('#file', file);
    await waitPlanned(page);
    const before = await readAggregation(page);

    await page.check('#shards-ranges');
    await page.fill('#shardList', JSON.stringify(listShards, null, 2));
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#hot-keys-table tbody tr').length === 2 && document.getElementById('error').hidden,
    );
    const oracle = oracleNdjson(lines, { partitionKeyIdentifier: 'id' });
    const on = planBatches(oracle.payloads, { partitionKeyIdentifier: 'id', aggregate: true, listShards });
    // The same answer as text reads the same.
    assert.deepEqual(
      totals(
        planBatches(oracle.payloads, {
          partitionKeyIdentifier: 'id',
          aggregate: true,
          listShards: JSON.stringify(listShards),
        }),
      ),
      totals(on),
    );
    const shown = await readAggregation(page);
    assertComparison(shown, oracle.result, on);
    assertShards(shown, on);
    assert.deepEqual(
      on.shards.map((s) => s.shardId),
      ranges.map((r) => r.id),
      'open shards only, by starting hash key',
    );
    const hot = independentHotKeys(oracle, 2, rangeShard(ranges));
    for (const [i, s] of on.shards.entries()) assert.deepEqual(s.hotKeys, hot[i], `${s.shardId} hot keys`);
    // Two shards group more records together than four: fewer Kinesis records than before.
    assert.ok(
      shown.metrics.kinesisRecords.on < before.metrics.kinesisRecords.on,
      `${shown.metrics.kinesisRecords.on} vs ${before.metrics.kinesisRecords.on}`,
    );
    assert.equal(shown.metrics.kinesisRecords.off, before.metrics.kinesisRecords.off, 'off does not depend on shards');
    assert.match(await page.innerText('#aggregation-note'), /the 2 pasted shard ranges/);

    // Phone width: the view stays inside the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${overflow}px of horizontal scrolling`);
    await page.locator('#aggregation-view').screenshot({ path: path.join(artifacts, '390-aggregation.png') });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("no request left the page's own origin", () => {
  const own = new URL(server.origin).origin;
  for (const url of requests) {
    if (url.startsWith('blob:') || url.startsWith('data:')) continue;
    assert.equal(new URL(url).origin, own, url);
  }
});
