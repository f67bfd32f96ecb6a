// The preview page's main thread: collects input and settings, talks to the worker, draws the
// results. Everything heavy (reading, parsing, planning, shard mapping) runs in worker.js.
// No Kinesis limit or default is written here: the worker gives the core's (resolveLimits), at
// start for the form's defaults and with every plan for the limits it ran with.
import { shardLoad, formatBytes, WARM } from './stats.js';

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat('en-US');
const fmt1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const fmt3 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const formatCount = (n) => fmt.format(n);
const pct = (x) => `${fmt1.format(x * 100)}%`;
const SVG = 'http://www.w3.org/2000/svg';
const MIB = 1048576; // a unit, for MiB/s
const REJECTED_PAGE = 100;
const BATCH_PAGE = 25;
const HOT_SHARDS = 50; // shards listed with their hottest keys, busiest first

const state = {
  source: null, // { kind: 'file', file } | { kind: 'text' }
  sent: null, // what the worker holds: { source, text }
  result: null,
  settings: null,
  rejected: { offset: 0, code: '' },
  batchPage: 0,
  body: null,
  running: null,
};

/** The form field for an option the core names in an InvalidOption error. */
const FIELD_OF_OPTION = {
  partitionKeyIdentifier: 'identifier',
  maxBatchSize: 'maxBatchSize',
  maxRecordBytes: 'maxRecordBytes',
  maxRequestBytes: 'maxRequestBytes',
  shardCount: 'shardCount',
  maxAggregateBytes: 'maxAggregateBytes',
  listShards: 'shardList',
};

function setState(name) {
  document.body.dataset.state = name;
}

// ---- worker ---------------------------------------------------------------------------------

let worker;
let nextId = 1;
const pending = new Map();

// The worker starts from a blob URL that imports worker.js: a blob worker inherits this page's
// Content-Security-Policy, so the worker cannot connect to another origin either, wherever the
// page is hosted.
function startWorker() {
  const url = new URL('./worker.js', location.href).href;
  const blob = new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' });
  const blobUrl = URL.createObjectURL(blob);
  worker = new Worker(blobUrl, { type: 'module', name: 'kinesis-batch-preview' });
  URL.revokeObjectURL(blobUrl);
  worker.onmessage = ({ data }) => {
    const job = pending.get(data.id);
    if (!job) return;
    if (data.type === 'progress') return job.onProgress?.(data);
    pending.delete(data.id);
    if (data.type === 'done') job.resolve(data.result);
    else {
      const { message, code, option } = data.error;
      job.reject(Object.assign(new Error(message), { code, field: FIELD_OF_OPTION[option] }));
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const error = new Error(`the worker failed: ${event.message || 'could not load it'}`);
    for (const job of pending.values()) job.reject(error);
    pending.clear();
  };
  state.sent = null;
}

function call(type, args, { onProgress, transfer } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, type, args }, transfer || []);
  });
}

// ---- settings -------------------------------------------------------------------------------

function readSettings() {
  const keyMode = document.querySelector('input[name=keyMode]:checked').value;
  const shardMode = document.querySelector('input[name=shardMode]:checked').value;
  const identifier = $('identifier').value.trim();
  if (keyMode === 'field' && !identifier)
    throw fieldError('identifier', 'Enter the field that holds the partition key, or choose random UUIDs.');
  // Numbers as typed; the core checks their ranges (an empty limit means its default).
  const number = (id) => {
    const text = $(id).value.trim();
    return text === '' ? undefined : Number(text);
  };
  const shardCount = shardMode === 'even' ? number('shardCount') : undefined;
  if (shardMode === 'even' && shardCount === undefined)
    throw fieldError('shardCount', 'Enter the number of shards, or paste the shard list.');
  const settings = {
    format: $('format').value,
    partitionKeyIdentifier: keyMode === 'field' ? identifier : undefined,
    maxBatchSize: number('maxBatchSize'),
    maxRecordBytes: number('maxRecordBytes'),
    maxRequestBytes: number('maxRequestBytes'),
    maxAggregateBytes: number('maxAggregateBytes'),
    shardMode,
    shardCount,
    shardList: shardMode === 'ranges' ? $('shardList').value : undefined,
  };
  if (shardMode === 'ranges' && !settings.shardList.trim())
    throw fieldError('shardList', 'Paste the JSON of a ListShards or DescribeStream answer, or choose an even split.');
  return settings;
}

function readRate() {
  const rate = Number($('rate').value);
  return Number.isFinite(rate) && rate >= 0 ? rate : 0;
}

function fieldError(id, message) {
  return Object.assign(new Error(message), { field: id });
}

function showError(error) {
  const box = $('error');
  box.textContent = error ? error.message : '';
  box.hidden = !error;
  for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (error?.field) {
    $(error.field).setAttribute('aria-invalid', 'true');
    $(error.field).focus();
  }
}

// ---- input ----------------------------------------------------------------------------------

function useFile(file) {
  state.source = { kind: 'file', file };
  $('source').textContent = `Input: ${file.name} (${formatBytes(file.size)}).`;
  runPlan();
}

$('file').addEventListener('change', () => {
  const file = $('file').files[0];
  if (file) useFile(file);
});

$('paste').addEventListener('input', () => {
  state.source = $('paste').value.trim() ? { kind: 'text' } : null;
  $('source').textContent = state.source
    ? `Input: pasted text (${fmt.format($('paste').value.length)} characters). Press Plan.`
    : 'No records yet.';
});

// Drop anywhere on the page.
let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
  e.preventDefault();
  dragDepth++;
  $('drop').classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    $('drop').classList.remove('dragging');
  }
});
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  $('drop').classList.remove('dragging');
  const file = e.dataTransfer?.files?.[0];
  if (file) useFile(file);
});

$('example').addEventListener('click', () => {
  const lines = [];
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const types = ['furniture', 'lighting', 'garden', 'kitchen'];
  for (let i = 1; i <= 2000; i++) {
    // A few customers place most orders: their keys make hot shards.
    const customer = rand() < 0.3 ? 'c-1' : `c-${Math.floor(rand() * 300)}`;
    lines.push(
      JSON.stringify({ id: customer, order: i, type: types[i % 4], amount: Math.round(rand() * 10000) / 100 }),
    );
  }
  lines[41] = '{"id": "c-7", "order": 42, "type": "garden",'; // cut short
  lines[99] = JSON.stringify({ order: 100, type: 'kitchen' }); // no id
  lines[499] = JSON.stringify({ id: 'x'.repeat(300), order: 500 }); // key too long
  lines[999] = JSON.stringify({ id: null, order: 1000 });
  $('paste').value = `${lines.join('\n')}\n`;
  $('key-field').checked = true;
  $('identifier').value = 'id';
  $('rate').value = '4000';
  state.source = { kind: 'text' };
  $('source').textContent = 'Input: an example of 2,000 orders keyed by customer id, with 4 bad lines.';
  runPlan();
});

// ---- planning -------------------------------------------------------------------------------

const PHASES = {
  reading: 'Reading',
  planning: 'Parsing and planning',
  shards: 'Mapping keys to shards',
  aggregating: 'Planning with aggregation',
};

async function runPlan() {
  showError(null);
  let settings;
  try {
    settings = readSettings();
  } catch (error) {
    showError(error);
    return;
  }
  if (!state.source) {
    showError(fieldError('paste', 'Paste records or choose a file first.'));
    return;
  }
  if (state.running) cancel(false);
  const args = { settings };
  const text = state.source.kind === 'text' ? $('paste').value : null;
  const same = state.sent && state.sent.source === state.source && state.sent.text === text;
  if (!same) {
    if (state.source.kind === 'file') {
      args.source = state.source.file;
      args.name = state.source.file.name;
    } else {
      args.source = text;
      args.name = 'pasted text';
    }
  }
  const progress = $('progress');
  progress.hidden = false;
  progress.value = 0;
  $('cancel').hidden = false;
  $('plan').disabled = true;
  setState('planning');
  status('Starting…');
  const run = { id: Symbol('run') };
  state.running = run;
  try {
    const result = await call('plan', args, {
      onProgress: (p) => {
        progress.value = p.fraction;
        status(
          `${PHASES[p.phase] || p.phase}… ${Math.floor(p.fraction * 100)}%${p.records ? ` (${fmt.format(p.records)} records)` : ''}`,
        );
      },
    });
    if (state.running !== run) return;
    state.sent = { source: state.source, text };
    state.result = result;
    state.settings = settings;
    state.rejected = { offset: 0, code: '' };
    state.batchPage = 0;
    await renderAll();
    if (state.running !== run) return;
    status(
      `Planned ${fmt.format(result.summary.records)} records into ${fmt.format(result.summary.requests)} requests in ${(result.summary.timing.totalMs / 1000).toFixed(2)} s; ${fmt.format(result.summary.rejected)} rejected.`,
    );
    setState('done');
    await showBody(0, false);
  } catch (error) {
    if (state.running !== run) return;
    state.sent = null;
    status('');
    showError(error);
    setState('error');
  } finally {
    if (state.running === run) {
      state.running = null;
      progress.hidden = true;
      $('cancel').hidden = true;
      $('plan').disabled = false;
    }
  }
}

function cancel(announce = true) {
  worker.terminate();
  for (const job of pending.values()) job.reject(new Error('cancelled'));
  pending.clear();
  startWorker();
  state.running = null;
  $('progress').hidden = true;
  $('cancel').hidden = true;
  $('plan').disabled = false;
  if (announce) {
    status('Cancelled.');
    setState(state.result ? 'stale' : 'idle');
  }
}

function status(text) {
  $('status').textContent = text;
}

$('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  runPlan();
});
$('cancel').addEventListener('click', () => cancel());

// The send rate only changes arithmetic: redraw at once.
$('rate').addEventListener('input', () => state.result && renderShards());

// Shard settings and maxAggregateBytes re-map the planned keys and redo the aggregation without
// planning again.
let shardTimer;
for (const id of ['shards-even', 'shards-ranges', 'shardCount', 'shardList', 'maxAggregateBytes']) {
  $(id).addEventListener(id.startsWith('shards-') ? 'change' : 'input', () => {
    if (!state.result || state.running) return;
    clearTimeout(shardTimer);
    shardTimer = setTimeout(remapShards, 300);
  });
}

async function remapShards() {
  let settings;
  try {
    settings = readSettings();
  } catch (error) {
    showError(error);
    return;
  }
  showError(null);
  try {
    const { shards, aggregation } = await call('shards', { settings });
    state.result.shards = shards;
    state.result.aggregation = aggregation;
    state.settings = {
      ...state.settings,
      shardMode: settings.shardMode,
      shardCount: settings.shardCount,
      shardList: settings.shardList,
      maxAggregateBytes: settings.maxAggregateBytes,
    };
    renderShards();
    renderAggregation();
    if (state.body) await showBody(state.body.batch, false);
  } catch (error) {
    showError(error);
  }
}

// Other settings need a new plan.
for (const id of [
  'key-uuid',
  'key-field',
  'identifier',
  'maxBatchSize',
  'maxRecordBytes',
  'maxRequestBytes',
  'format',
]) {
  $(id).addEventListener('change', () => {
    if (state.result && !state.running) {
      setState('stale');
      status('Settings changed: press Plan to update the results.');
    }
  });
}

$('stream').addEventListener('change', () => state.body && showBody(state.body.batch, false));

// ---- rendering ------------------------------------------------------------------------------

/** Fills a table body; each cell gets its column's header as data-label (the narrow layout shows it). */
function fillTable(table, rows) {
  const heads = [...table.tHead.rows[0].cells].map((c) => c.textContent.trim());
  for (const row of rows)
    [...row.children].forEach((cell, i) => {
      if (heads[i]) cell.dataset.label = heads[i];
    });
  table.tBodies[0].replaceChildren(...rows);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function bar(fraction, label, hot = false) {
  const wrap = el('span', { class: 'bar', 'aria-hidden': 'true', title: label });
  const fill = el('span', { class: hot ? 'fill hot' : 'fill' });
  fill.style.width = `${Math.min(100, Math.max(0, fraction * 100))}%`;
  wrap.append(fill);
  return wrap;
}

// Drawn one section at a time, each shown only after the previous one has been laid out and
// painted, so no single frame lays out the whole page and the page stays responsive.
const nextFrame = () =>
  new Promise((resolve) => {
    let done = false;
    const go = () => {
      if (done) return;
      done = true;
      setTimeout(resolve, 0);
    };
    requestAnimationFrame(go);
    setTimeout(go, 100); // rAF does not run in a hidden tab
  });

async function renderAll() {
  const reveal = async (id, draw) => {
    draw();
    $(id).hidden = false;
    await nextFrame();
  };
  $('results').hidden = false;
  await reveal('summary-view', renderSummary);
  await reveal('shards-view', renderShards);
  await reveal('aggregation-view', renderAggregation);
  await reveal('rejected-view', () => renderRejected(state.result.rejected));
  await reveal('batches-view', renderBatches);
  $('body-view').hidden = false;
}

function stat(id, label, value, text, detail) {
  const dd = el('dd', { id, 'data-value': String(value) }, el('span', { class: 'big', text }));
  if (detail) dd.append(el('span', { class: 'detail', text: detail }));
  return [el('dt', { text: label }), dd];
}

function renderSummary() {
  const { summary: s, batches, limits } = state.result;
  const n = s.requests;
  const meanRecords = n ? s.accepted / n : 0;
  const meanBytes = n ? s.bytes / n : 0;
  const lastPartial = n && batches.records[n - 1] !== limits.maxBatchSize ? 1 : 0;
  const dl = $('summary');
  dl.replaceChildren(
    ...stat(
      'sum-input',
      'Input',
      s.inputBytes,
      s.name,
      `${formatBytes(s.inputBytes)}, ${s.format === 'array' ? 'JSON array' : 'NDJSON'}`,
    ),
    ...stat('sum-records', 'Records', s.records, fmt.format(s.records)),
    ...stat('sum-accepted', 'Accepted', s.accepted, fmt.format(s.accepted)),
    ...stat(
      'sum-rejected',
      'Rejected',
      s.rejected,
      fmt.format(s.rejected),
      s.invalidJson ? `${fmt.format(s.invalidJson)} not valid JSON` : '',
    ),
    ...stat('sum-requests', 'PutRecords requests', s.requests, fmt.format(s.requests)),
    ...stat(
      'sum-bytes',
      'Bytes (data + keys)',
      s.bytes,
      formatBytes(s.bytes),
      `${fmt.format(s.bytes)} B; keys ${formatBytes(s.keyBytes)}`,
    ),
    ...stat(
      'sum-mean-records',
      'Records per request',
      meanRecords,
      fmt1.format(meanRecords),
      `${pct(meanRecords / limits.maxBatchSize)} of maxBatchSize`,
    ),
    ...stat(
      'sum-mean-bytes',
      'Bytes per request',
      meanBytes,
      formatBytes(Math.round(meanBytes)),
      `${pct(meanBytes / limits.maxRequestBytes)} of maxRequestBytes`,
    ),
    ...stat(
      'sum-closed',
      'Requests closed by',
      `${s.fullByCount},${s.fullByBytes},${lastPartial}`,
      `${fmt.format(s.fullByCount)} count · ${fmt.format(s.fullByBytes)} bytes`,
      lastPartial ? '+ 1 last, partly filled' : '',
    ),
    ...stat(
      'sum-time',
      'Planned in',
      s.timing.totalMs,
      `${(s.timing.totalMs / 1000).toFixed(2)} s`,
      `read ${(s.timing.readMs / 1000).toFixed(2)} s · plan ${(s.timing.planMs / 1000).toFixed(2)} s · shards ${(s.timing.shardMs / 1000).toFixed(2)} s`,
    ),
  );
  if (s.sizeMismatches) {
    dl.append(
      ...stat(
        'sum-check',
        'Size check',
        s.sizeMismatches,
        `${s.sizeMismatches} requests differ`,
        "per-record sizes do not add up to the core's request bytes: the MiB/s figures are approximate",
      ),
    );
  }
  renderFillChart();
}

function renderFillChart() {
  const { records, bytes } = state.result.batches;
  const { limits } = state.result;
  const n = records.length;
  const box = $('fill-chart');
  if (!n) {
    box.replaceChildren(el('p', { text: 'No requests: every record was rejected.' }));
    $('fill-note').textContent = '';
    return;
  }
  const columns = Math.min(n, 600);
  const per = Math.ceil(n / columns);
  const cols = Math.ceil(n / per);
  const W = cols * 4,
    H = 100;
  // Two paths (one per binding limit) rather than a node per column: a few hundred SVG nodes
  // cost the main thread a noticeable layout. The requests table has each request's numbers.
  const paths = { 'by-count': [], 'by-bytes': [] };
  let meanRecords = 0;
  for (let c = 0; c < cols; c++) {
    let rf = 0,
      bf = 0,
      k = 0;
    for (let i = c * per; i < Math.min(n, (c + 1) * per); i++, k++) {
      rf += records[i] / limits.maxBatchSize;
      bf += bytes[i] / limits.maxRequestBytes;
    }
    meanRecords += rf;
    rf /= k;
    bf /= k;
    const h = Math.max(0.5, Math.max(rf, bf) * H);
    paths[rf >= bf ? 'by-count' : 'by-bytes'].push(`M${c * 4} ${(H - h).toFixed(2)}h3.2v${h.toFixed(2)}h-3.2z`);
  }
  const chart = svg('svg', {
    viewBox: `0 -4 ${W} ${H + 8}`,
    preserveAspectRatio: 'none',
    role: 'img',
    class: 'fill-svg',
    'aria-label': `Fill of ${fmt.format(n)} requests: mean ${pct(meanRecords / n)} of maxBatchSize`,
  });
  for (const [cls, d] of Object.entries(paths)) if (d.length) chart.append(svg('path', { d: d.join(''), class: cls }));
  chart.append(svg('line', { x1: 0, x2: W, y1: 0, y2: 0, class: 'limit' }));
  box.replaceChildren(chart);
  $('fill-note').textContent =
    `Each column is ${per === 1 ? 'one request' : `the mean of ${per} requests`}; its height is the fuller of records ÷ maxBatchSize (blue) and bytes ÷ maxRequestBytes (orange). The line is 100%.`;
}

function shardModel() {
  const { shards, summary } = state.result;
  return {
    shares: shards.shares,
    counts: shards.counts,
    bytes: shards.bytes,
    accepted: summary.accepted,
    totalBytes: summary.bytes,
    randomKeys: summary.randomKeys,
  };
}

/** "1,000 records/s" and "1 MiB/s": the core's per-shard write limits, as the page writes them. */
function limitTexts({ shardRecordsPerSecond, shardBytesPerSecond }) {
  return {
    records: `${fmt.format(shardRecordsPerSecond)} records/s`,
    bytes: `${fmt3.format(shardBytesPerSecond / MIB)} MiB/s`,
  };
}

function renderShards() {
  const { shards, summary, limits } = state.result;
  const rate = readRate();
  const model = shardModel();
  const load = shardLoad(model, rate, limits);
  const { shardRecordsPerSecond: recordLimit, shardBytesPerSecond: byteLimit } = limits;
  const limitText = limitTexts(limits);
  const n = shards.ids.length;
  const hot = load.rows.filter((r) => r.hot).length;
  const note = $('shards-note');
  const maxRate = Number.isFinite(load.maxRate) ? `${fmt.format(Math.floor(load.maxRate))} records/s` : 'unlimited';
  if (summary.randomKeys) {
    const p = 1 / n;
    const sigma = Math.sqrt(summary.accepted * p * (1 - p));
    note.textContent =
      `Partition keys are random UUIDs, drawn anew on every plan, so each record lands on a shard at random, ` +
      `with the shard's share of the hash-key space as its chance. Rates below are the expected ones at ${fmt.format(rate)} records/s ` +
      `(rate × share, at the mean record size); the record counts are this plan's random draw and change from run to run` +
      (shards.mode === 'even' && n > 1
        ? ` (about ±${fmt.format(Math.round(2 * sigma))} around ${fmt.format(Math.round(summary.accepted * p))} per shard, 2σ).`
        : '.') +
      ` The stream takes up to ${maxRate} before a shard reaches a limit.`;
  } else {
    note.textContent =
      `Keys come from the field "${state.settings.partitionKeyIdentifier}", so each record's shard is fixed and the counts are exact. ` +
      `Rates assume traffic at ${fmt.format(rate)} records/s with this input's mix of keys and sizes. ` +
      `The stream takes up to ${maxRate} before a shard reaches a limit.`;
  }
  const warnings = [...shards.warnings];
  if (shards.closed)
    warnings.push(
      `${shards.closed} closed shard${shards.closed > 1 ? 's' : ''} (with an EndingSequenceNumber) left out: they take no writes.`,
    );
  if (shards.unassigned) warnings.push(`${fmt.format(shards.unassigned)} records fall in no pasted shard's range.`);
  $('shard-warnings').replaceChildren(...warnings.map((w) => el('p', { class: 'warning', text: w })));
  const summaryLine = el('p', {
    id: 'hot-summary',
    'data-hot': String(hot),
    class: hot ? 'warning' : 'ok',
    text: hot
      ? `${hot} of ${n} shards run hot at ${fmt.format(rate)} records/s: they would be throttled (ProvisionedThroughputExceededException).`
      : `No shard exceeds ${limitText.records} or ${limitText.bytes} at ${fmt.format(rate)} records/s.`,
  });
  $('shard-warnings').append(summaryLine);

  drawShardChart(
    $('chart-records'),
    load.rows.map((r) => r.recordsPerSecond),
    recordLimit,
    (v) => `${fmt1.format(v)} records/s`,
    shards.ids,
  );
  drawShardChart(
    $('chart-bytes'),
    load.rows.map((r) => r.bytesPerSecond / MIB),
    byteLimit / MIB,
    (v) => `${fmt3.format(v)} MiB/s`,
    shards.ids,
  );

  const rows = [];
  for (let i = 0; i < n; i++) {
    const r = load.rows[i];
    const statusText = r.hot ? 'HOT' : r.warm ? 'near limit' : 'ok';
    const reason = r.hot
      ? [
          r.recordsPerSecond > recordLimit ? `over ${limitText.records}` : '',
          r.bytesPerSecond > byteLimit ? `over ${limitText.bytes}` : '',
        ]
          .filter(Boolean)
          .join(', ')
      : '';
    const expected = summary.randomKeys ? ` (expected ${fmt1.format(summary.accepted * shards.shares[i])})` : '';
    rows.push(
      el(
        'tr',
        {
          class: r.hot ? 'hot' : r.warm ? 'warm' : '',
          'data-shard-id': shards.ids[i],
          'data-records': String(shards.counts[i]),
          'data-bytes': String(shards.bytes[i]),
          'data-hot': String(r.hot),
        },
        el('th', { scope: 'row', text: shards.ids[i] }),
        el('td', { text: pct(shards.shares[i]) }),
        el('td', { class: 'num', text: fmt.format(shards.counts[i]) + expected }),
        el(
          'td',
          { class: 'num' },
          fmt1.format(r.recordsPerSecond),
          bar(r.recordsPerSecond / recordLimit, `of ${limitText.records}`, r.recordsPerSecond > recordLimit),
        ),
        el(
          'td',
          { class: 'num' },
          fmt3.format(r.bytesPerSecond / MIB),
          bar(r.bytesPerSecond / byteLimit, `of ${limitText.bytes}`, r.bytesPerSecond > byteLimit),
        ),
        el('td', { class: 'status', text: reason ? `${statusText}: ${reason}` : statusText }),
      ),
    );
  }
  if (shards.unassigned) {
    rows.push(
      el(
        'tr',
        { class: 'warm', 'data-shard-id': '', 'data-records': String(shards.unassigned) },
        el('th', { scope: 'row', text: 'no shard' }),
        el('td', { text: '–' }),
        el('td', { class: 'num', text: fmt.format(shards.unassigned) }),
        el('td', { text: '–' }),
        el('td', { text: '–' }),
        el('td', { text: 'outside every pasted range' }),
      ),
    );
  }
  fillTable($('shards-table'), rows);
}

/** "−97.5%": the change from `off` to `on`. */
function change(off, on) {
  if (!off) return '–';
  const x = (on - off) / off;
  return x === 0 ? 'same' : `${x < 0 ? '−' : '+'}${fmt1.format(Math.abs(x) * 100)}%`;
}

function renderAggregation() {
  const a = state.result.aggregation;
  const { shards } = state.result;
  const unit = `${fmt.format(a.payloadUnitBytes / 1024)} KB`;
  const mapText =
    shards.mode === 'ranges'
      ? `the ${fmt.format(shards.ids.length)} pasted shard ranges`
      : `${fmt.format(shards.ids.length)} evenly split shards`;
  $('aggregation-note').textContent =
    `The same accepted records planned by the library with aggregate: true and maxAggregateBytes ${fmt.format(a.maxAggregateBytes)}: ` +
    `records predicted for the same shard (over ${mapText}) share KPL aggregated records of at most ${fmt.format(a.maxAggregateBytes)} bytes; ` +
    'a record alone on its shard, or too big to share, goes as it is. ' +
    `Kinesis counts writes in ${unit} PUT payload units (each Kinesis record at least one) and limits a shard to ` +
    `${limitTexts(state.result.limits).records} by Kinesis records. Consumers must deaggregate (the KCL, or aws-kinesis-agg).`;
  const rows = [
    ['requests', 'PutRecords requests', formatCount],
    ['kinesisRecords', 'Kinesis records', formatCount],
    ['payloadUnits', `${unit} payload units`, formatCount],
    ['bytes', 'Bytes (data + keys)', formatBytes],
  ];
  fillTable(
    $('aggregation-table'),
    rows.map(([name, label, format]) => {
      const off = a.off[name];
      const on = a.on[name];
      return el(
        'tr',
        { 'data-metric': name, 'data-off': String(off), 'data-on': String(on) },
        el('th', { scope: 'row', text: label }),
        el('td', { class: 'num', text: format(off) }),
        el('td', { class: 'num', text: format(on) }),
        el('td', { class: on < off ? 'num better' : 'num', text: change(off, on) }),
      );
    }),
  );
  const busiest = a.shards
    .map((s, i) => ({ ...s, i }))
    .sort((x, y) => y.records - x.records || x.i - y.i)
    .slice(0, HOT_SHARDS);
  $('hot-keys-note').textContent =
    (a.shards.length > HOT_SHARDS
      ? `The ${HOT_SHARDS} busiest of ${fmt.format(a.shards.length)} shards`
      : 'Every shard, busiest first') +
    ', with its five partition keys carrying the most records (bytes: data + key).' +
    (a.randomKeys ? ' Keys are random UUIDs here, one per record: no key is hotter than another.' : '');
  fillTable(
    $('hot-keys-table'),
    busiest.map((s) =>
      el(
        'tr',
        {
          'data-shard-id': s.shardId,
          'data-records': String(s.records),
          'data-kinesis-records': String(s.kinesisRecords),
          'data-payload-units': String(s.payloadUnits),
        },
        el('th', { scope: 'row', text: s.shardId }),
        el('td', { class: 'num', text: fmt.format(s.records) }),
        el('td', { class: 'num', text: fmt.format(s.kinesisRecords) }),
        el('td', { class: 'num', text: fmt.format(s.payloadUnits) }),
        el(
          'td',
          {},
          s.hotKeys.length
            ? el(
                'ol',
                { class: 'hot-keys' },
                ...s.hotKeys.map((k) =>
                  el(
                    'li',
                    { 'data-key': k.partitionKey, 'data-records': String(k.records), 'data-bytes': String(k.bytes) },
                    el('code', { class: 'mono', text: k.partitionKey }),
                    el('span', {
                      class: 'detail',
                      text: ` ${fmt.format(k.records)} record${k.records === 1 ? '' : 's'}, ${formatBytes(k.bytes)}`,
                    }),
                  ),
                ),
              )
            : 'no records',
        ),
      ),
    ),
  );
}

function drawShardChart(box, values, limit, label, ids) {
  const n = values.length;
  const max = Math.max(limit * 1.25, ...values) * 1.05;
  const W = Math.max(200, n * 10),
    H = 120;
  const step = W / n;
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
    class: 'shard-svg',
    'aria-label': `${n} shards; highest ${label(Math.max(...values))}; limit ${label(limit)}`,
  });
  for (let i = 0; i < n; i++) {
    const h = (values[i] / max) * H;
    const rect = svg('rect', {
      x: i * step + step * 0.1,
      y: H - h,
      width: step * 0.8,
      height: Math.max(0.5, h),
      class: values[i] > limit ? 'hot' : values[i] >= limit * WARM ? 'warm' : 'ok',
    });
    const title = svg('title');
    title.textContent = `${ids[i]}: ${label(values[i])}`;
    rect.append(title);
    chart.append(rect);
  }
  const y = H - (limit / max) * H;
  chart.append(svg('line', { x1: 0, x2: W, y1: y, y2: y, class: 'limit' }));
  const figure = el(
    'div',
    { class: 'chart-inner' },
    chart,
    el('span', { class: 'limit-label', text: `limit ${label(limit)}` }),
  );
  figure.lastChild.style.bottom = `${(limit / max) * 100}%`;
  box.replaceChildren(figure);
}

function renderRejected(page) {
  const { summary } = state.result;
  const select = $('rejected-code');
  const codes = Object.entries(summary.byCode).sort((a, b) => b[1] - a[1]);
  select.replaceChildren(
    el('option', { value: '', text: `every code (${fmt.format(summary.rejected)})` }),
    ...codes.map(([code, count]) => el('option', { value: code, text: `${code} (${fmt.format(count)})` })),
  );
  select.value = page.code;
  $('rejected-note').textContent = summary.rejected
    ? `${fmt.format(summary.rejected)} records would be refused at submitPayload and never sent: ` +
      codes.map(([c, k]) => `${c} ${fmt.format(k)}`).join(', ') +
      '.' +
      (summary.invalidJson
        ? " InvalidJson records are not one JSON value (the core's check, as in the CLI): they would never be submitted."
        : '')
    : 'No record is rejected.';
  fillTable(
    $('rejected-table'),
    page.rows.map((r) =>
      el(
        'tr',
        { 'data-line': String(r.line), 'data-code': r.code },
        el('td', { class: 'num', text: fmt.format(r.line) }),
        el('td', { text: r.code }),
        el('td', { text: r.message }),
      ),
    ),
  );
  state.rejected = { offset: page.offset, code: page.code, total: page.total };
  const pages = Math.max(1, Math.ceil(page.total / REJECTED_PAGE));
  const current = Math.floor(page.offset / REJECTED_PAGE) + 1;
  $('rejected-page').textContent = page.total
    ? `Rows ${fmt.format(page.offset + 1)}–${fmt.format(Math.min(page.total, page.offset + REJECTED_PAGE))} of ${fmt.format(page.total)} (page ${current} of ${pages})`
    : '';
  $('rejected-prev').disabled = page.offset === 0;
  $('rejected-next').disabled = page.offset + REJECTED_PAGE >= page.total;
}

async function loadRejected(offset, code) {
  try {
    renderRejected(await call('rejected', { offset, limit: REJECTED_PAGE, code }));
  } catch (error) {
    showError(error);
  }
}

$('rejected-prev').addEventListener('click', () =>
  loadRejected(Math.max(0, state.rejected.offset - REJECTED_PAGE), state.rejected.code),
);
$('rejected-next').addEventListener('click', () =>
  loadRejected(state.rejected.offset + REJECTED_PAGE, state.rejected.code),
);
$('rejected-code').addEventListener('change', () => loadRejected(0, $('rejected-code').value));

function renderBatches() {
  const { records, bytes, firstLine, lastLine } = state.result.batches;
  const { limits } = state.result;
  const n = records.length;
  const pages = Math.max(1, Math.ceil(n / BATCH_PAGE));
  state.batchPage = Math.min(state.batchPage, pages - 1);
  const from = state.batchPage * BATCH_PAGE;
  const rows = [];
  for (let i = from; i < Math.min(n, from + BATCH_PAGE); i++) {
    const closedBy = records[i] === limits.maxBatchSize ? 'record count' : i === n - 1 ? 'end of input' : 'bytes';
    const button = el('button', {
      type: 'button',
      class: 'small',
      text: 'Body',
      'aria-label': `Show the body of request ${i + 1}`,
    });
    button.addEventListener('click', () => showBody(i, true));
    rows.push(
      el(
        'tr',
        { 'data-batch': String(i), 'data-records': String(records[i]), 'data-bytes': String(bytes[i]) },
        el('th', { scope: 'row', text: String(i + 1) }),
        el(
          'td',
          { class: 'num' },
          `${fmt.format(records[i])}`,
          bar(records[i] / limits.maxBatchSize, `${pct(records[i] / limits.maxBatchSize)} of maxBatchSize`),
        ),
        el(
          'td',
          { class: 'num' },
          formatBytes(bytes[i]),
          bar(bytes[i] / limits.maxRequestBytes, `${pct(bytes[i] / limits.maxRequestBytes)} of maxRequestBytes`),
        ),
        el('td', { text: closedBy }),
        el('td', { text: `${fmt.format(firstLine[i])}–${fmt.format(lastLine[i])}` }),
        el('td', {}, button),
      ),
    );
  }
  fillTable($('batches-table'), rows);
  $('batches-page').textContent = n
    ? `Requests ${fmt.format(from + 1)}–${fmt.format(Math.min(n, from + BATCH_PAGE))} of ${fmt.format(n)}`
    : 'No requests.';
  $('batches-prev').disabled = state.batchPage === 0;
  $('batches-next').disabled = from + BATCH_PAGE >= n;
  $('body-batch').max = String(Math.max(1, n));
}

$('batches-prev').addEventListener('click', () => {
  state.batchPage--;
  renderBatches();
});
$('batches-next').addEventListener('click', () => {
  state.batchPage++;
  renderBatches();
});

async function showBody(batch, focus) {
  const n = state.result?.batches.records.length || 0;
  if (!n) {
    $('body-note').textContent = 'No request to show.';
    $('body').textContent = '';
    $('body-table').tBodies[0].replaceChildren();
    return;
  }
  // At most the request's records: the worker caps the count.
  const count = Math.max(1, Math.floor(Number($('body-count').value)) || 5);
  batch = Math.max(0, Math.min(n - 1, batch));
  $('body-batch').value = String(batch + 1);
  try {
    const b = await call('body', { batch, count, stream: $('stream').value.trim() });
    state.body = b;
    $('body-note').textContent =
      `POST ${b.url} with Content-Type: ${b.contentType} and X-Amz-Target: ${b.target}. ` +
      `Request ${fmt.format(batch + 1)} carries ${fmt.format(b.total)} records (${fmt.format(b.batchBytes)} bytes as Kinesis counts them); ` +
      `the first ${fmt.format(b.shown)} are shown as the library would send them, pretty-printed here. Data is the record's bytes in base64. ` +
      'A real request is signed with SigV4 when it is sent.';
    fillTable(
      $('body-table'),
      b.records.map((r) =>
        el(
          'tr',
          { 'data-line': String(r.line) },
          el('td', { class: 'num', text: fmt.format(r.line) }),
          el('td', { class: 'mono', text: r.partitionKey }),
          el('td', { class: 'mono', text: r.hashKey }),
          el('td', { text: r.shardId ?? 'no shard' }),
          el('td', { class: 'num', text: fmt.format(r.dataBytes) }),
        ),
      ),
    );
    $('body').textContent = JSON.stringify(JSON.parse(b.body), null, 2);
    $('body').dataset.raw = b.body;
    if (focus) {
      $('body-view').scrollIntoView({ block: 'start' });
      $('body-heading').focus();
    }
  } catch (error) {
    state.body = null;
    $('body-note').textContent = `Cannot show this request: ${error.message}`;
    $('body').textContent = '';
  }
}

$('body-form').addEventListener('submit', (e) => {
  e.preventDefault();
  showBody(Math.floor(Number($('body-batch').value)) - 1, false);
});

$('download').addEventListener('click', async () => {
  const button = $('download');
  button.disabled = true;
  try {
    const { blob } = await call('export', { rate: readRate() });
    const url = URL.createObjectURL(blob);
    const a = el('a', {
      href: url,
      download: `kinesis-plan-${(state.result.summary.name || 'input').replace(/[^\w.-]+/g, '_')}.json`,
    });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
});

// ---- start ----------------------------------------------------------------------------------

/** The core's defaults into the empty limit fields, and its per-shard limits into the texts. */
function showLimits(limits) {
  for (const id of ['maxBatchSize', 'maxRecordBytes', 'maxRequestBytes', 'maxAggregateBytes']) {
    if ($(id).value.trim() === '') $(id).value = String(limits[id]);
    $(id).placeholder = `default ${limits[id]}`;
  }
  const text = limitTexts(limits);
  for (const node of document.querySelectorAll('[data-limit]')) node.textContent = text[node.dataset.limit];
}

startWorker();
// Cache the page for offline use (not on file://, where service workers are unavailable).
if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register('./sw.js').catch(() => {});
}
call('ping').then(
  ({ limits }) => {
    showLimits(limits);
    document.documentElement.dataset.ready = 'true';
    if (!document.body.dataset.state) setState('idle');
  },
  (error) => showError(error),
);
