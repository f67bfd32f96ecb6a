// The kinesis-batch CLI (pkg/bin/kinesis-batch.js) as a user runs it: a child process, NDJSON on
// a file or stdin, a real kinesalite on 127.0.0.1, records read back with GetRecords.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKinesalite, readAllRecords, freePort } from '../support/servers.mjs';
import { deaggregateNpm } from '../support/deaggregate.mjs';
import { planBatches, shardIndexFor } from '../../pkg/node.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../pkg/bin/kinesis-batch.js');
const VERSION = JSON.parse(readFileSync(path.resolve(here, '../../pkg/package.json'), 'utf8')).version;

// Dummy credentials; the secret parts must never show up in any output.
const SECRET = `cli-test-secret-${process.pid}-do-not-print`;
const TOKEN = `cli-test-session-token-${process.pid}-do-not-print`;
const ENV = {
  PATH: process.env.PATH,
  AWS_ACCESS_KEY_ID: 'AKIDCLITEST',
  AWS_SECRET_ACCESS_KEY: SECRET,
  AWS_SESSION_TOKEN: TOKEN,
  AWS_REGION: 'us-east-1',
};

const STREAMS = { file: 2, stdin: 4, bad: 1, failed: 1, refed: 2, interrupt: 1, tty: 1, aggregated: 2 };
let kinesalite;
let tmp;

before(async () => {
  kinesalite = await startKinesalite({ streams: STREAMS });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kinesis-batch-cli-'));
});

after(async () => {
  await kinesalite?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Starts the CLI; `done` resolves to { code, signal, stdout, stderr, summary }. */
function startCli(args, { env = ENV, stdin = 'ignore' } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: [stdin, 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c) => {
    stderr += c;
  });
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const secret of [SECRET, TOKEN]) {
        assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'a secret appeared in the output');
      }
      let summary;
      try {
        summary = JSON.parse(stdout);
      } catch {
        /* not JSON: the test says what it expects */
      }
      resolve({ code, signal, stdout, stderr, summary });
    });
  });
  return { child, done };
}

/** Runs the CLI to the end, with `input` (string or Buffer) on stdin. */
async function runCli(args, { input, env } = {}) {
  const { child, done } = startCli(args, { env, stdin: input === undefined ? 'ignore' : 'pipe' });
  if (input !== undefined) {
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  }
  return done;
}

function writeInput(name, text) {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

async function readBack(stream) {
  return readAllRecords({ endpoint: kinesalite.endpoint, stream });
}

/** Sorted "key\u0000data" strings, to compare what was stored with what was meant. */
const pairs = (list) => list.map(([key, data]) => `${key}\u0000${data}`).sort();

/** Lines as users write them: spacing and escapes JSON.stringify would change, big numbers, UTF-8. */
function sampleLines(n, prefix) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    switch (i % 4) {
      case 0:
        lines.push(JSON.stringify({ id, type: 'order', amount: i * 1.25, city: 'Zürich 東京 😀' }));
        break;
      case 1:
        lines.push(`{ "id": "${id}", "big": 12345678901234567890123, "price": 1.50, "e": 1e3 }`);
        break;
      case 2:
        lines.push(`{"id":"${id}","escaped":"caf\\u00e9","nested":{"a":[1,2,{"b":null}]}}`);
        break;
      default:
        lines.push(`{"b":1,"2":"integer-like keys reorder in JSON.stringify","id":"${id}"}`);
    }
  }
  return lines;
}

describe('kinesis-batch put', () => {
  test('from a file with --partition-key: every line stored byte for byte under its key', async () => {
    const lines = sampleLines(1200, 'file');
    const file = writeInput('file.ndjson', `${lines.join('\n')}\n`);
    const r = await runCli(['put', 'file', file, '--endpoint', kinesalite.endpoint, '--partition-key', 'id']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'stderr is not a terminal: no progress line, and no line was bad');
    const s = r.summary;
    assert.equal(s.stream, 'file');
    assert.equal(s.endpoint, kinesalite.endpoint);
    assert.equal(s.region, 'us-east-1');
    assert.equal(s.input, file);
    assert.deepEqual(
      {
        lines: s.lines,
        accepted: s.accepted,
        sent: s.sent,
        failed: s.failed,
        rejected: s.rejected,
        requests: s.requests,
        retries: s.retries,
      },
      { lines: 1200, accepted: 1200, sent: 1200, failed: 0, rejected: 0, requests: 3, retries: 0 },
    );
    assert.deepEqual(s.failedByCode, {});
    assert.ok(s.seconds > 0 && s.recordsPerSecond > 0);
    const stored = await readBack('file');
    assert.equal(stored.length, 1200);
    assert.deepEqual(
      pairs(stored.map((rec) => [rec.partitionKey, rec.data.toString('utf8')])),
      pairs(lines.map((line) => [JSON.parse(line).id, line])),
    );
  });

  test('from stdin ("-" and no file): CRLF, blank lines and a BOM; --max-batch-size sets the requests', async () => {
    const lines = sampleLines(700, 'stdin');
    const input = `\uFEFF${lines.slice(0, 350).join('\r\n')}\r\n\n   \n${lines.slice(350).join('\n')}`; // no final newline
    const r = await runCli(
      ['put', 'stdin', '-', '--endpoint', kinesalite.endpoint, '--partition-key', 'id', '--max-batch-size', '100'],
      { input },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual([r.summary.input, r.summary.lines, r.summary.sent, r.summary.requests], ['-', 700, 700, 7]);
    const more = sampleLines(300, 'stdin-implicit');
    const r2 = await runCli(['put', 'stdin', '--endpoint', kinesalite.endpoint, '--partition-key', 'id'], {
      input: more.join('\n'),
    });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.summary.sent, 300);
    const stored = await readBack('stdin');
    assert.deepEqual(
      pairs(stored.map((rec) => [rec.partitionKey, rec.data.toString('utf8')])),
      pairs([...lines, ...more].map((line) => [JSON.parse(line).id, line])),
    );
    // 1,000 distinct keys over 4 shards: each shard holds what shardIndexFor says.
    const shardOf = (id) => `shardId-${String(shardIndexFor(id, 4)).padStart(12, '0')}`;
    for (const rec of stored) assert.equal(rec.shardId, shardOf(rec.partitionKey));
  });

  test('bad lines are reported with their line numbers, counted, and never stop the others', async () => {
    const good = (i) => JSON.stringify({ id: `bad-${i}`, n: i });
    const huge = JSON.stringify({ id: 'huge', blob: 'x'.repeat(1024 * 1024 + 10) }); // > 1 MiB: never buffered whole
    /** A line for `id` whose data is exactly `size` bytes. */
    const padded = (id, size) => {
      const line = JSON.stringify({ id, pad: 'y'.repeat(size - JSON.stringify({ id, pad: '' }).length) });
      assert.equal(Buffer.byteLength(line), size);
      return line;
    };
    const input = [
      good(1), // 1
      '{"id": "broken", ', // 2: invalid JSON
      good(2), // 3
      '', // 4: skipped
      JSON.stringify({ n: 'no id' }), // 5
      JSON.stringify({ id: null }), // 6
      JSON.stringify({ id: { nested: true } }), // 7
      huge, // 8
      JSON.stringify({ id: 'k'.repeat(257) }), // 9: key over 256 UTF-16 units
      JSON.stringify({ id: '' }), // 10: empty key
      good(3), // 11
      padded('just-fits', 400 - 9), // 12: data + key = 400 = --max-record-bytes
      padded('too-big', 401 - 7), // 13: 401
      '[1, 2, 3]', // 14: valid JSON, no field
      good(4), // 15
    ];
    const file = writeInput('bad.ndjson', `${input.join('\n')}\n`);
    const r = await runCli([
      'put',
      'bad',
      file,
      '--endpoint',
      kinesalite.endpoint,
      '--partition-key',
      'id',
      '--max-record-bytes',
      '400',
    ]);
    assert.equal(r.code, 1);
    const reported = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => l.split(':').slice(0, 2).join(':'));
    assert.deepEqual(reported, [
      'line 2: InvalidJson',
      'line 5: MissingPartitionKey',
      'line 6: InvalidPartitionKey',
      'line 7: InvalidPartitionKey',
      'line 8: RecordTooLarge',
      'line 9: InvalidPartitionKey',
      'line 10: InvalidPartitionKey',
      'line 13: RecordTooLarge',
      'line 14: MissingPartitionKey',
    ]);
    assert.match(r.stderr, /^line 5: MissingPartitionKey: payload has no field "id" to use as partition key$/m);
    assert.match(
      r.stderr,
      /^line 13: RecordTooLarge: record is 401 bytes \(394 data \+ 7 partition key\); maxRecordBytes is 400$/m,
    );
    assert.match(
      r.stderr,
      new RegExp(
        `^line 8: RecordTooLarge: record data alone is ${Buffer.byteLength(huge)} bytes; maxRecordBytes is 400$`,
        'm',
      ),
    );
    assert.deepEqual(
      [r.summary.lines, r.summary.accepted, r.summary.sent, r.summary.failed, r.summary.rejected],
      [14, 5, 5, 0, 9],
    );
    const stored = await readBack('bad');
    assert.deepEqual(
      stored.map((rec) => rec.data.toString('utf8')).sort(),
      [good(1), good(2), good(3), input[11], good(4)].sort(),
    );

    // With the default limits the >1 MiB line is still refused, by its size alone.
    const r2 = await runCli(['plan', '--partition-key', 'id'], { input: `${good(9)}\n${huge}\n` });
    assert.equal(r2.code, 1);
    assert.match(
      r2.stderr,
      new RegExp(
        `^line 2: RecordTooLarge: record data alone is ${Buffer.byteLength(huge)} bytes; maxRecordBytes is 1048576$`,
        'm',
      ),
    );
  });

  test('--failed-out gets the lines of records that finally failed, and feeds back into put', async () => {
    const lines = sampleLines(260, 'refeed');
    const file = writeInput('refeed.ndjson', `${lines.join('\n')}\n{"not an id": 1}\n`);
    const failedOut = path.join(tmp, 'failed.ndjson');
    writeFileSync(failedOut, 'stale content from an earlier run\n');

    // A stream that does not exist: ResourceNotFoundException is final.
    const r = await runCli([
      'put',
      'no-such-stream',
      file,
      '--endpoint',
      kinesalite.endpoint,
      '--partition-key',
      'id',
      '--failed-out',
      failedOut,
    ]);
    // A missing stream is a configuration error (exit 2, one line naming the stream, region and
    // endpoint); the records still go to --failed-out.
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual([r.summary.accepted, r.summary.sent, r.summary.failed, r.summary.rejected], [260, 0, 260, 1]);
    assert.deepEqual(r.summary.failedByCode, { ResourceNotFoundException: 260 });
    assert.equal(r.summary.configurationError, 'ResourceNotFoundException');
    assert.equal(r.summary.failedOut, failedOut);
    assert.match(r.stderr, /^line 261: MissingPartitionKey: /m);
    assert.match(
      r.stderr,
      /^kinesis-batch: ResourceNotFoundException: stream no-such-stream in us-east-1 at http:\/\/127\.0\.0\.1:\d+\/: /m,
    );
    assert.doesNotMatch(r.stderr, /^failed: /m);
    const written = readFileSync(failedOut, 'utf8');
    assert.ok(written.endsWith('\n'));
    assert.deepEqual(
      written.slice(0, -1).split('\n').sort(),
      [...lines].sort(),
      'exactly the failed lines, byte for byte',
    );

    // A closed port: transport errors are retried, then end in failed-out as well.
    const closed = await freePort();
    const failedOut2 = path.join(tmp, 'failed2.ndjson');
    const r2 = await runCli([
      'put',
      'failed',
      file,
      '--endpoint',
      `http://127.0.0.1:${closed}`,
      '--partition-key',
      'id',
      '--failed-out',
      failedOut2,
      '--max-attempts',
      '2',
      '--retry-base-delay-ms',
      '1',
      '--retry-max-delay-ms',
      '5',
    ]);
    assert.equal(r2.code, 1);
    assert.deepEqual([r2.summary.sent, r2.summary.failed], [0, 260]);
    assert.ok(r2.summary.retries >= 1, 'the batch was tried again before failing');
    const [code] = Object.keys(r2.summary.failedByCode);
    assert.deepEqual(r2.summary.failedByCode, { [code]: 260 });
    assert.match(r2.stderr, new RegExp(`^failed: 260 records: ${code}: `, 'm'));
    assert.deepEqual(readFileSync(failedOut2, 'utf8').slice(0, -1).split('\n').sort(), [...lines].sort());

    // The failed-out file is valid input: sent again to the right stream, all arrive.
    const r3 = await runCli([
      'put',
      'refed',
      failedOut,
      '--endpoint',
      kinesalite.endpoint,
      '--partition-key',
      'id',
      '--failed-out',
      failedOut2,
    ]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual([r3.summary.sent, r3.summary.failed, r3.summary.rejected], [260, 0, 0]);
    assert.equal(readFileSync(failedOut2, 'utf8'), '', 'nothing failed: the file is emptied');
    const stored = await readBack('refed');
    assert.deepEqual(
      pairs(stored.map((rec) => [rec.partitionKey, rec.data.toString('utf8')])),
      pairs(lines.map((line) => [JSON.parse(line).id, line])),
    );
  });

  test('a missing stream stops the run early: exit 2, one line, at most maxInFlight requests and a probe', async () => {
    const lines = sampleLines(20_000, 'nosuch');
    const file = writeInput('nosuch.ndjson', `${lines.join('\n')}\n`);
    const r = await runCli(['put', 'NoSuch', file, '--endpoint', kinesalite.endpoint, '--partition-key', 'id']);
    assert.equal(r.code, 2, r.stderr);
    const errorLines = r.stderr.split('\n').filter((line) => line.startsWith('kinesis-batch: '));
    assert.equal(errorLines.length, 1, r.stderr);
    assert.match(
      errorLines[0],
      /^kinesis-batch: ResourceNotFoundException: stream NoSuch in us-east-1 at http:\/\/127\.0\.0\.1:\d+\/: /,
    );
    // Without fail fast this was 40 requests, each answered ResourceNotFoundException.
    assert.ok(r.summary.requests <= 5, `${r.summary.requests} requests`);
    assert.equal(r.summary.failed, r.summary.accepted, 'every accepted record is accounted for');
  });

  test('Ctrl-C once: stops reading, delivers what was read, exits 130', async () => {
    const { child, done } = startCli(
      ['put', 'interrupt', '-', '--endpoint', kinesalite.endpoint, '--max-batch-size', '10'],
      { stdin: 'pipe' },
    );
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ i }));
    child.stdin.write(`${lines.join('\n')}\n`); // stdin stays open
    // Two full batches go out at once; once they are stored, all 25 lines (one chunk) were read.
    for (let i = 0; (await readBack('interrupt')).length < 20; i++) {
      assert.ok(i < 200, 'the first batches never arrived');
      await sleep(50);
    }
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130);
    assert.match(r.stderr, /interrupted/);
    assert.equal(r.summary.interrupted, true);
    assert.deepEqual([r.summary.accepted, r.summary.sent, r.summary.failed], [25, 25, 0]);
    assert.equal((await readBack('interrupt')).length, 25);
  });

  test('Ctrl-C twice: aborts, and the unacknowledged records go to --failed-out', async () => {
    // A server that accepts connections and never answers.
    const sockets = new Set();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const failedOut = path.join(tmp, 'aborted.ndjson');
    try {
      const { child, done } = startCli(
        [
          'put',
          'nowhere',
          '-',
          '--endpoint',
          `http://127.0.0.1:${server.address().port}`,
          '--max-batch-size',
          '5',
          '--failed-out',
          failedOut,
        ],
        { stdin: 'pipe' },
      );
      const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ i, text: 'ä' }));
      child.stdin.write(`${lines.join('\n')}\n`);
      for (let i = 0; sockets.size === 0; i++) {
        assert.ok(i < 200, 'no request was ever sent');
        await sleep(50);
      }
      child.kill('SIGINT');
      await sleep(300);
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 130);
      assert.deepEqual([r.summary.accepted, r.summary.sent, r.summary.failed], [12, 0, 12]);
      assert.deepEqual(r.summary.failedByCode, { Aborted: 12 });
      assert.deepEqual(readFileSync(failedOut, 'utf8').slice(0, -1).split('\n').sort(), [...lines].sort());
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('progress on stderr when it is a terminal (run under script(1))', {
    skip: !existsScript() && 'no script(1)',
  }, async () => {
    const file = writeInput(
      'tty.ndjson',
      `${Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i })).join('\n')}\n`,
    );
    const command = [
      process.execPath,
      CLI,
      'put',
      'tty',
      file,
      '--endpoint',
      kinesalite.endpoint,
      '--max-batch-size',
      '10',
      '--max-in-flight',
      '1',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
    });
    const [code] = await once(child, 'close');
    assert.equal(code, 0, out);
    assert.ok(!out.includes(SECRET) && !out.includes(TOKEN));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the TTY progress line starts with CR + ESC[2K (erase line), which is what this checks
    assert.match(out, /\r\x1b\[2Kaccepted [\d,]+ · sent [\d,]+ · failed 0 · rejected 0 · [\d,]+ records\/s/);
    assert.match(out, /"sent": 1000/);
    const q = spawn('script', ['-qfec', `${command} --quiet`, '/dev/null'], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let quiet = '';
    q.stdout.setEncoding('utf8').on('data', (c) => {
      quiet += c;
    });
    await once(q, 'close');
    assert.doesNotMatch(quiet, /records\/s/);
  });
});

function existsScript() {
  try {
    return readFileSync('/usr/bin/script').length > 0;
  } catch {
    return false;
  }
}

describe('kinesis-batch plan', () => {
  test('--shards 4 --batches matches planBatches and shardIndexFor in-process', async () => {
    const payloads = [];
    for (let i = 0; i < 2000; i++) {
      if (i === 700) payloads.push({ noId: true });
      else payloads.push({ id: i % 3 === 0 ? i : `p-${i}-😀`, text: 'é'.repeat(i % 50), n: i });
    }
    const input = `${payloads.map((p) => JSON.stringify(p)).join('\n')}\n`;
    const r = await runCli(
      [
        'plan',
        '-',
        '--partition-key',
        'id',
        '--shards',
        '4',
        '--batches',
        '--max-batch-size',
        '37',
        '--max-request-bytes',
        '9000',
      ],
      { input },
    );
    assert.equal(r.code, 1, 'a rejected line makes the exit status 1');
    const plan = r.summary;
    const want = planBatches(payloads, { partitionKeyIdentifier: 'id', maxBatchSize: 37, maxRequestBytes: 9000 });
    assert.equal(plan.batches, want.batches.length);
    assert.equal(plan.records, 1999);
    assert.equal(plan.lines, 2000);
    assert.equal(
      plan.bytes,
      want.batches.reduce((n, b) => n + b.bytes, 0),
    );
    assert.deepEqual(
      plan.batchList.map((b) => [b.records, b.bytes]),
      want.batches.map((b) => [b.records, b.bytes]),
    );
    assert.deepEqual(
      plan.batchList.map((b) => [b.firstLine, b.lastLine]),
      want.batches.map((b) => [b.indices[0] + 1, b.indices.at(-1) + 1]),
    );
    assert.deepEqual(
      plan.rejectedLines.map((x) => [x.line, x.code]),
      want.rejected.map((x) => [x.index + 1, x.code]),
    );
    assert.equal(plan.rejected, 1);
    assert.match(r.stderr, /^line 701: MissingPartitionKey: /m);
    const perShard = [0, 0, 0, 0];
    for (const b of want.batches) for (const key of b.partitionKeys) perShard[shardIndexFor(key, 4)]++;
    assert.deepEqual(plan.recordsPerShard, perShard);
    assert.equal(
      plan.bytesPerShard.reduce((a, b) => a + b, 0),
      plan.bytes,
    );
    assert.deepEqual(plan.limits, { maxBatchSize: 37, maxRecordBytes: 1048576, maxRequestBytes: 9000 });
    assert.ok(plan.perBatch.records.max <= 37 && plan.perBatch.bytes.max <= 9000);
  });

  test('summary by default; random keys without --partition-key; exit 0 when every line is valid', async () => {
    const lines = Array.from({ length: 1234 }, (_, i) => JSON.stringify({ i }));
    const file = writeInput('plan.ndjson', `${lines.join('\n')}\n`);
    const r = await runCli(['plan', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const dataBytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
    assert.deepEqual(
      [
        r.summary.lines,
        r.summary.records,
        r.summary.rejected,
        r.summary.batches,
        r.summary.bytes,
        r.summary.partitionKey,
      ],
      [1234, 1234, 0, 3, dataBytes + 36 * 1234, null], // a UUIDv4 key is 36 bytes
    );
    assert.deepEqual(r.summary.perBatch.records, { min: 234, max: 500, mean: 411.3 });
    assert.equal(r.summary.batchList, undefined);
    assert.equal(r.summary.recordsPerShard, undefined);
    assert.deepEqual(r.summary.rejectedLines, []);
  });

  test('put --aggregate --ordered: the lines come back through an independent decoder, in order per key', async () => {
    const lines = sampleLines(600, 'agg');
    const file = writeInput('agg.ndjson', `${lines.join('\n')}\n`);
    const r = await runCli([
      'put',
      'aggregated',
      file,
      '--endpoint',
      kinesalite.endpoint,
      '--partition-key',
      'id',
      '--aggregate',
      '--ordered',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.summary.sent, 600);
    const stored = await readBack('aggregated');
    assert.ok(stored.length < 60, `${stored.length} Kinesis records for 600 lines`);
    const users = await deaggregateNpm(stored);
    assert.deepEqual(
      pairs(users.map((u) => [u.partitionKey, u.data.toString('utf8')])),
      pairs(lines.map((line) => [JSON.parse(line).id, line])),
    );
  });

  test('plan --aggregate --shards: Kinesis records and 25 KB units, as planBatches counts them', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ id: `k${i % 7}`, i }));
    const r = await runCli(['plan', '--partition-key', 'id', '--shards', '2', '--aggregate'], {
      input: `${lines.join('\n')}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    const expected = planBatches(lines, { partitionKeyIdentifier: 'id', aggregate: true, shardCount: 2 });
    assert.equal(r.summary.records, 400);
    assert.equal(r.summary.kinesisRecords, expected.kinesisRecords);
    assert.equal(r.summary.payloadUnits, expected.payloadUnits);
    assert.ok(r.summary.kinesisRecords <= 2, 'one aggregate per shard');
    const plain = await runCli(['plan', '--partition-key', 'id'], { input: `${lines.join('\n')}\n` });
    assert.equal(plain.summary.kinesisRecords, 400);
  });

  test('plan needs no network and no credentials', async () => {
    const r = await runCli(['plan', '--shards', '2'], { input: '{"a":1}\n', env: { PATH: process.env.PATH } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.summary.records, 1);
  });
});

describe('usage', () => {
  const usage = async (args, pattern, env) => {
    const r = await runCli(args, { env });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
    return r;
  };

  test('usage errors exit 2 with a message on stderr', async () => {
    await usage([], /Usage:/);
    await usage(['launch'], /unknown command "launch"/);
    await usage(['put'], /put needs a stream name/);
    await usage(['put', 's', '--bogus'], /Unknown option '--bogus'/);
    await usage(['put', 's', 'a', 'b'], /unexpected argument "b"/);
    await usage(['put', 's', '-', '--max-batch-size', 'ten'], /--max-batch-size must be a whole number/);
    await usage(
      ['put', 's', '-', '--max-batch-size', '501'],
      /--max-batch-size: must be a whole number from 1 to 500, got 501/,
    );
    await usage(['plan', '--shards', '0'], /--shards: /);
    await usage(['plan', '--max-record-bytes', '0'], /--max-record-bytes: /);
    await usage(['plan', '--endpoint', 'http://x'], /Unknown option '--endpoint'/);
    await usage(['put', 'bad stream!', '-'], /<stream>: /);
    await usage(['put', 's', path.join(tmp, 'missing.ndjson')], /cannot read .*missing\.ndjson: no such file/);
    await usage(['put', 's', tmp], /cannot read .*: is a directory/);
    await usage(
      ['put', 's', '-', '--failed-out', path.join(tmp, 'no', 'such', 'dir.ndjson')],
      /cannot write --failed-out/,
    );
    // Changed on purpose: no credentials is no longer refused before reading. `put` uses the AWS
    // default credentials chain, which resolves at the first send; when no source has any, put
    // stops with CredentialsUnavailable, exit 2 (tests/node/credentials-chain.test.mjs).
    await usage(['put', 's', '-'], /region/, {
      PATH: process.env.PATH,
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: SECRET,
    });
  });

  test('--help and --version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /kinesis-batch put <stream> \[file\|-\]/);
    assert.match(help.stdout, /kinesis-batch plan \[file\|-\]/);
    const putHelp = await runCli(['put', '-h']);
    assert.equal(putHelp.code, 0);
    assert.match(putHelp.stdout, /--failed-out FILE/);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout, `${VERSION}\n`);
  });
});
